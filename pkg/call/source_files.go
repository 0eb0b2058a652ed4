package call

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
)

// NewProtoSource compiles .proto files and returns a source over them and
// everything they import. Files and imports are looked up in importPaths, in
// order (the current directory when there are none); the well-known types
// (google/protobuf/*.proto) are always available. A file may also be named by
// a path that starts with one of the import paths
// ("api/greeter/v1/greeter.proto" with import path "api"). Comments are kept,
// so descriptions of the source show them.
func NewProtoSource(ctx context.Context, importPaths []string, files ...string) (*FileSource, error) {
	origin := fmt.Sprintf("proto files %s", strings.Join(files, ", "))
	if len(importPaths) > 0 {
		origin += fmt.Sprintf(" (import paths %s)", strings.Join(importPaths, ", "))
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("compile proto files: no files given")
	}
	names := make([]string, len(files))
	for i, file := range files {
		names[i] = relativeToImportPaths(file, importPaths)
	}
	compiler := protocompile.Compiler{
		Resolver:       protocompile.WithStandardImports(&protocompile.SourceResolver{ImportPaths: importPaths}),
		SourceInfoMode: protocompile.SourceInfoStandard,
	}
	compiled, err := compiler.Compile(ctx, names...)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", origin, err)
	}
	// Rebuilt with protodesc, the descriptors are the same kind as every
	// other source's, and faster to use than the compiler's.
	compiledFiles := make([]protoreflect.FileDescriptor, len(compiled))
	for i, fd := range compiled {
		compiledFiles[i] = fd
	}
	return NewDescriptorSetSource(DescriptorSetOf(compiledFiles...), origin)
}

// relativeToImportPaths returns file relative to the first import path it
// lies under, when it does not exist relative to any of them as it is; else
// file unchanged.
func relativeToImportPaths(file string, importPaths []string) string {
	for _, dir := range importPaths {
		if _, err := os.Stat(filepath.Join(dir, file)); err == nil {
			return file
		}
	}
	for _, dir := range importPaths {
		rel, err := filepath.Rel(dir, file)
		if err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return filepath.ToSlash(rel)
		}
	}
	return file
}

// NewProtosetSource reads protoset files (binary FileDescriptorSets, as
// written by protoc --descriptor_set_out --include_imports or
// DescriptorSetOf) and returns a source over their files together. A file
// that is in several protosets must be the same in each.
func NewProtosetSource(paths ...string) (*FileSource, error) {
	origin := fmt.Sprintf("protosets %s", strings.Join(paths, ", "))
	if len(paths) == 1 {
		origin = "protoset " + paths[0]
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("read protosets: no files given")
	}
	merged := &descriptorpb.FileDescriptorSet{}
	byName := map[string]*descriptorpb.FileDescriptorProto{}
	for _, path := range paths {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("read protoset: %w", err)
		}
		var set descriptorpb.FileDescriptorSet
		if err := proto.Unmarshal(data, &set); err != nil {
			return nil, fmt.Errorf("read protoset %s: not a FileDescriptorSet: %w", path, err)
		}
		for _, file := range set.GetFile() {
			if prev, ok := byName[file.GetName()]; ok {
				if !proto.Equal(prev, file) {
					return nil, fmt.Errorf("read protoset %s: file %q differs from the one of the same name in an earlier protoset", path, file.GetName())
				}
				continue
			}
			byName[file.GetName()] = file
			merged.File = append(merged.File, file)
		}
	}
	return NewDescriptorSetSource(merged, origin)
}
