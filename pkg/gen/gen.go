package gen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/protoutil"
	gengo "google.golang.org/protobuf/cmd/protoc-gen-go/internal_gengo"
	"google.golang.org/protobuf/compiler/protogen"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// Options say what to generate.
type Options struct {
	// ImportPaths are the directories that Files and their imports are
	// named relative to, searched in order. Empty means the current
	// directory. The well-known google/protobuf/*.proto files need none.
	ImportPaths []string

	// Files are the .proto files to generate code for, named as they are
	// imported: slash-separated and relative to an import path
	// ("orders/v1/orders.proto").
	Files []string

	// GoPackage gives the Go package of a file that has no go_package
	// option, in go_package form: "example.com/orders/proto" or
	// "example.com/orders/proto;orderspb" (protoc-gen-go's M option). It
	// is called only for such files; nil, or an empty result, leaves them
	// without one, which is an error naming the file.
	GoPackage func(file string) string

	// Open opens a file found on an import path, as
	// filepath.Join(importPath, name). Nil means os.Open. Callers use it to
	// generate from files not yet written.
	Open func(path string) (io.ReadCloser, error)
}

// File is one generated file.
type File struct {
	// Name is slash-separated and relative to the import path its .proto
	// was found on: orders/v1/orders.pb.go for orders/v1/orders.proto.
	Name string
	// Content is gofmt-formatted Go source.
	Content []byte
}

// ErrNoFiles is returned when Options name no .proto file. Name one, or
// point `micro gen` at a directory that holds some.
var ErrNoFiles = errors.New("gen: no .proto files to generate")

// Generate compiles the files and returns the Go code protoc-gen-go and
// protoc-gen-go-grpc would write for them: the .pb.go files, then the
// _grpc.pb.go files, each list with a file after the files it imports. A
// file without services gets no _grpc.pb.go.
func Generate(ctx context.Context, opts Options) ([]File, error) {
	req, err := Request(ctx, opts)
	if err != nil {
		return nil, err
	}
	resp, err := Run(req)
	if err != nil {
		return nil, err
	}
	files := make([]File, 0, len(resp.File))
	for _, f := range resp.File {
		files = append(files, File{Name: f.GetName(), Content: []byte(f.GetContent())})
	}
	return files, nil
}

// Request compiles the files and returns the request protoc would send a
// plugin with paths=source_relative: the files to generate and, before each
// file, everything it imports, with source info (comments) kept and no
// compiler version, so that the code says protoc "(unknown)".
func Request(ctx context.Context, opts Options) (*pluginpb.CodeGeneratorRequest, error) {
	if len(opts.Files) == 0 {
		return nil, ErrNoFiles
	}
	importPaths := opts.ImportPaths
	if len(importPaths) == 0 {
		importPaths = []string{"."}
	}
	compiler := protocompile.Compiler{
		Resolver: protocompile.WithStandardImports(&protocompile.SourceResolver{
			ImportPaths: importPaths,
			Accessor:    opts.Open,
		}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(ctx, opts.Files...)
	if err != nil {
		return nil, fmt.Errorf("gen: compile %s (import paths %s): %w", strings.Join(opts.Files, " "), strings.Join(importPaths, ", "), err)
	}

	req := &pluginpb.CodeGeneratorRequest{FileToGenerate: slices.Clone(opts.Files)}
	params := []string{"paths=source_relative"}
	seen := map[string]bool{}
	var noGoPackage []string
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
		file := fileProto(fd)
		if file.GetOptions().GetGoPackage() == "" {
			pkg := ""
			if opts.GoPackage != nil {
				pkg = opts.GoPackage(file.GetName())
			}
			if pkg == "" {
				noGoPackage = append(noGoPackage, file.GetName())
			} else {
				params = append(params, "M"+file.GetName()+"="+pkg)
			}
		}
		req.ProtoFile = append(req.ProtoFile, file)
	}
	for _, file := range compiled {
		add(file)
	}
	if len(noGoPackage) > 0 {
		return nil, fmt.Errorf("gen: no Go package for %s: add a go_package option such as option go_package = \"example.com/module/dir;namepb\";", strings.Join(noGoPackage, ", "))
	}
	req.Parameter = proto.String(strings.Join(params, ","))
	return req, nil
}

// fileProto is the descriptor of a compiled file as protoc would send it.
func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if res, ok := fd.(linker.Result); ok {
		return res.FileDescriptorProto()
	}
	return protoutil.ProtoFromFileDescriptor(fd)
}

// Run runs protoc-gen-go's generator and GenerateGRPC over req, as protoc
// would run both plugins, and returns their files together: every .pb.go,
// then every _grpc.pb.go. An error in the request (a file without a Go
// import path, an unknown parameter) is returned as an error, not inside
// the response.
func Run(req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	resp := &pluginpb.CodeGeneratorResponse{}
	for _, generate := range []func(*protogen.Plugin, *protogen.File){
		func(p *protogen.Plugin, f *protogen.File) { gengo.GenerateFile(p, f) },
		func(p *protogen.Plugin, f *protogen.File) { GenerateGRPC(p, f) },
	} {
		plugin, err := protogen.Options{}.New(req)
		if err != nil {
			return nil, fmt.Errorf("gen: %w", err)
		}
		plugin.SupportedFeatures = gengo.SupportedFeatures
		plugin.SupportedEditionsMinimum = gengo.SupportedEditionsMinimum
		plugin.SupportedEditionsMaximum = gengo.SupportedEditionsMaximum
		for _, f := range plugin.Files {
			if f.Generate {
				generate(plugin, f)
			}
		}
		out := plugin.Response()
		if out.Error != nil {
			return nil, fmt.Errorf("gen: %s", out.GetError())
		}
		resp.File = append(resp.File, out.File...)
		resp.SupportedFeatures = out.SupportedFeatures
		resp.MinimumEdition, resp.MaximumEdition = out.MinimumEdition, out.MaximumEdition
	}
	return resp, nil
}
