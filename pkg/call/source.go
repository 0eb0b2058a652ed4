package call

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// DescriptorSource tells what services exist and describes them. It is how a
// dynamic call learns the shape of its request and response messages.
//
// Implementations: NewReflectionSource (ask the server), NewProtoSource
// (compile .proto files), NewProtosetSource and NewDescriptorSetSource
// (compiled FileDescriptorSets) and NewCachedSource (an on-disk cache in
// front of any of them).
//
// The interface has no method to list the extensions of a type: a dynamic call
// needs extensions only to read or write extension fields in JSON, which the
// Resolver finds by name through FindSymbol.
type DescriptorSource interface {
	// ListServices returns the fully qualified names of the services the
	// source knows, sorted.
	ListServices(ctx context.Context) ([]string, error)
	// FindSymbol returns the descriptor of a fully qualified name: a
	// service, method, message, enum, enum value, field or extension. An
	// unknown name is an error that wraps ErrSymbolNotFound.
	FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error)
}

// Refresher is implemented by sources that can serve stale descriptors, such
// as a cache. FindMethod calls Refresh once and looks again when a service or
// method it was asked for is missing.
type Refresher interface {
	Refresh(ctx context.Context) error
}

var _ DescriptorSource = (*FileSource)(nil)

// FileSource is a DescriptorSource over a fixed set of files, compiled from
// .proto sources or read from protosets. It never does I/O after it is built,
// and it is safe for concurrent use.
type FileSource struct {
	files    *protoregistry.Files
	services []string
	origin   string
}

// newFileSource lists the services of files; origin says where the files
// came from, for error messages.
func newFileSource(files *protoregistry.Files, origin string) *FileSource {
	var services []string
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		for i := range fd.Services().Len() {
			services = append(services, string(fd.Services().Get(i).FullName()))
		}
		return true
	})
	slices.Sort(services)
	return &FileSource{files: files, services: services, origin: origin}
}

// NewDescriptorSetSource returns a source over the files of set. The files
// may come in any order, but every import must be in the set. origin names
// where the set came from in error messages ("protoset api.pb").
func NewDescriptorSetSource(set *descriptorpb.FileDescriptorSet, origin string) (*FileSource, error) {
	files, err := protodesc.NewFiles(set)
	if err != nil {
		return nil, fmt.Errorf("build descriptors of %s: %w", origin, err)
	}
	return newFileSource(files, origin), nil
}

// ListServices returns the services defined in the source's files, sorted.
func (s *FileSource) ListServices(ctx context.Context) ([]string, error) {
	return slices.Clone(s.services), nil
}

// FindSymbol returns the descriptor of a fully qualified name.
func (s *FileSource) FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	d, err := s.files.FindDescriptorByName(protoreflect.FullName(strings.TrimPrefix(name, ".")))
	if errors.Is(err, protoregistry.NotFound) {
		return nil, fmt.Errorf("%w: %q in %s", ErrSymbolNotFound, name, s.origin)
	}
	if err != nil {
		return nil, fmt.Errorf("find %q in %s: %w", name, s.origin, err)
	}
	return d, nil
}

// Files returns the source's files, for callers that want to walk them (to
// describe everything, or to write a protoset).
func (s *FileSource) Files() *protoregistry.Files { return s.files }

// String says where the source's files came from.
func (s *FileSource) String() string { return s.origin }

// DescriptorSetOf returns a FileDescriptorSet with the files and every file
// they import, directly or not, each once, imports before the files that
// import them. Written to disk it is a protoset that NewProtosetSource reads.
func DescriptorSetOf(files ...protoreflect.FileDescriptor) *descriptorpb.FileDescriptorSet {
	set := &descriptorpb.FileDescriptorSet{}
	seen := map[string]bool{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if seen[fd.Path()] {
			return
		}
		seen[fd.Path()] = true
		for i := range fd.Imports().Len() {
			add(fd.Imports().Get(i).FileDescriptor)
		}
		set.File = append(set.File, protodesc.ToFileDescriptorProto(fd))
	}
	for _, fd := range files {
		add(fd)
	}
	return set
}

// fileOf returns the file a descriptor was declared in.
func fileOf(d protoreflect.Descriptor) protoreflect.FileDescriptor {
	if fd, ok := d.(protoreflect.FileDescriptor); ok {
		return fd
	}
	return d.ParentFile()
}
