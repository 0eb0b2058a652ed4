package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/bufbuild/protocompile"
	"github.com/bufbuild/protocompile/linker"
	"github.com/bufbuild/protocompile/protoutil"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/pluginpb"
)

// defaultGRPCPluginVersion is the protoc-gen-go-grpc release the committed
// code was generated with. Bump it deliberately and regenerate.
const defaultGRPCPluginVersion = "v1.6.2"

type importPaths []string

func (p *importPaths) String() string     { return strings.Join(*p, ",") }
func (p *importPaths) Set(v string) error { *p = append(*p, v); return nil }

type options struct {
	importPaths       []string
	outDir            string
	parameter         string
	pluginDir         string
	grpcPluginVersion string
	files             []string
}

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "protogen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	var opts options
	var paths importPaths
	fs := flag.NewFlagSet("protogen", flag.ContinueOnError)
	fs.Var(&paths, "I", "directory to search for imports (repeatable; default .)")
	fs.StringVar(&opts.outDir, "out", ".", "directory to write generated files to")
	fs.StringVar(&opts.parameter, "param", "paths=source_relative", "parameter passed to both plugins")
	fs.StringVar(&opts.pluginDir, "plugin-dir", "", "use protoc-gen-go and protoc-gen-go-grpc from this directory instead of installing them")
	fs.StringVar(&opts.grpcPluginVersion, "grpc-plugin-version", defaultGRPCPluginVersion, "version of google.golang.org/grpc/cmd/protoc-gen-go-grpc to install")
	if err := fs.Parse(args); err != nil {
		return err
	}
	opts.importPaths = paths
	if len(opts.importPaths) == 0 {
		opts.importPaths = []string{"."}
	}
	opts.files = fs.Args()
	if len(opts.files) == 0 {
		return errors.New("no .proto files given")
	}

	req, err := buildRequest(ctx, opts)
	if err != nil {
		return err
	}

	pluginDir := opts.pluginDir
	if pluginDir == "" {
		dir, err := os.MkdirTemp("", "protogen-plugins-")
		if err != nil {
			return fmt.Errorf("create plugin directory: %w", err)
		}
		defer os.RemoveAll(dir)
		if err := installPlugins(ctx, dir, opts.grpcPluginVersion); err != nil {
			return err
		}
		pluginDir = dir
	}

	for _, plugin := range []string{"protoc-gen-go", "protoc-gen-go-grpc"} {
		resp, err := runPlugin(ctx, filepath.Join(pluginDir, plugin), req)
		if err != nil {
			return err
		}
		if err := writeFiles(opts.outDir, plugin, resp); err != nil {
			return err
		}
	}
	return nil
}

// buildRequest compiles the files and returns the request protoc would send
// a plugin: every file to generate and, before it, everything it imports.
func buildRequest(ctx context.Context, opts options) (*pluginpb.CodeGeneratorRequest, error) {
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: opts.importPaths}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(ctx, opts.files...)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", strings.Join(opts.files, " "), err)
	}

	req := &pluginpb.CodeGeneratorRequest{
		FileToGenerate: opts.files,
		Parameter:      proto.String(opts.parameter),
	}
	seen := map[string]bool{}
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
		req.ProtoFile = append(req.ProtoFile, fileProto(fd))
	}
	for _, file := range compiled {
		add(file)
	}
	return req, nil
}

func fileProto(fd protoreflect.FileDescriptor) *descriptorpb.FileDescriptorProto {
	if res, ok := fd.(linker.Result); ok {
		return res.FileDescriptorProto()
	}
	return protoutil.ProtoFromFileDescriptor(fd)
}

// installPlugins builds both plugins into dir: protoc-gen-go at the protobuf
// version linked into this program (the one go.mod requires), and
// protoc-gen-go-grpc at grpcVersion.
func installPlugins(ctx context.Context, dir, grpcVersion string) error {
	protobufVersion, err := moduleVersion("google.golang.org/protobuf")
	if err != nil {
		return err
	}
	for _, pkg := range []string{
		"google.golang.org/protobuf/cmd/protoc-gen-go@" + protobufVersion,
		"google.golang.org/grpc/cmd/protoc-gen-go-grpc@" + grpcVersion,
	} {
		cmd := exec.CommandContext(ctx, "go", "install", pkg)
		cmd.Env = append(os.Environ(), "GOBIN="+dir)
		cmd.Stdout = os.Stderr
		cmd.Stderr = os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go install %s: %w", pkg, err)
		}
	}
	return nil
}

func moduleVersion(path string) (string, error) {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "", errors.New("no build information in this binary; run it with go run")
	}
	for _, dep := range info.Deps {
		if dep.Path == path {
			if dep.Replace != nil {
				dep = dep.Replace
			}
			return dep.Version, nil
		}
	}
	return "", fmt.Errorf("module %s is not linked into this binary", path)
}

func runPlugin(ctx context.Context, path string, req *pluginpb.CodeGeneratorRequest) (*pluginpb.CodeGeneratorResponse, error) {
	in, err := proto.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode request for %s: %w", path, err)
	}
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, path)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("run %s: %w", path, err)
	}
	resp := &pluginpb.CodeGeneratorResponse{}
	if err := proto.Unmarshal(out.Bytes(), resp); err != nil {
		return nil, fmt.Errorf("decode response of %s: %w", path, err)
	}
	if resp.Error != nil {
		return nil, fmt.Errorf("%s: %s", filepath.Base(path), resp.GetError())
	}
	return resp, nil
}

func writeFiles(outDir, plugin string, resp *pluginpb.CodeGeneratorResponse) error {
	for _, file := range resp.File {
		if file.GetInsertionPoint() != "" {
			return fmt.Errorf("%s: insertion points are not supported (file %s)", plugin, file.GetName())
		}
		name := filepath.FromSlash(file.GetName())
		if !filepath.IsLocal(name) {
			return fmt.Errorf("%s: refusing to write %q outside %s", plugin, file.GetName(), outDir)
		}
		path := filepath.Join(outDir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return fmt.Errorf("%s: %w", plugin, err)
		}
		if err := os.WriteFile(path, []byte(file.GetContent()), 0o644); err != nil {
			return fmt.Errorf("%s: %w", plugin, err)
		}
		fmt.Fprintln(os.Stderr, "wrote", path)
	}
	return nil
}
