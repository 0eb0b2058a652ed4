package service

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// DescriptorsFingerprint is a hash of files and every file they import: the
// SHA-256 of their FileDescriptorSet, sorted by path and encoded
// deterministically, in hex (the first 16 bytes). The same API gives the
// same fingerprint in every build; a field, method or service added,
// removed or changed gives another. A service sets it in its node metadata
// under registry.MetadataDescriptorsFingerprint; other servers can compute
// theirs with it.
func DescriptorsFingerprint(files ...protoreflect.FileDescriptor) string {
	byPath := map[string]protoreflect.FileDescriptor{}
	var add func(fd protoreflect.FileDescriptor)
	add = func(fd protoreflect.FileDescriptor) {
		if _, ok := byPath[fd.Path()]; ok {
			return
		}
		byPath[fd.Path()] = fd
		imports := fd.Imports()
		for i := range imports.Len() {
			add(imports.Get(i).FileDescriptor)
		}
	}
	for _, fd := range files {
		add(fd)
	}
	paths := make([]string, 0, len(byPath))
	for path := range byPath {
		paths = append(paths, path)
	}
	slices.Sort(paths)
	set := &descriptorpb.FileDescriptorSet{}
	for _, path := range paths {
		file := protodesc.ToFileDescriptorProto(byPath[path])
		file.SourceCodeInfo = nil // comments do not change the API
		set.File = append(set.File, file)
	}
	data, err := proto.MarshalOptions{Deterministic: true}.Marshal(set)
	if err != nil {
		return "" // cannot happen: the files came from built descriptors
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:16])
}

// servedFingerprint is the fingerprint of the files of the services
// registered on server, found in files; "" when none of them is there (the
// service has only descriptors the caller cannot see).
func servedFingerprint(info map[string]grpc.ServiceInfo, files *protoregistry.Files) string {
	var found []protoreflect.FileDescriptor
	for name := range info {
		d, err := files.FindDescriptorByName(protoreflect.FullName(name))
		if err != nil {
			continue
		}
		found = append(found, d.ParentFile())
	}
	if len(found) == 0 {
		return ""
	}
	return DescriptorsFingerprint(found...)
}
