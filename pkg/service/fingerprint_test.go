package service_test

import (
	"regexp"
	"testing"

	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/service"
)

// A service publishes the fingerprint of its descriptors in its node
// metadata: the same for the same API, another for a changed one.
func TestServicePublishesDescriptorsFingerprint(t *testing.T) {
	reg := newMemoryRegistry(t)
	first := newService(t, reg, newTestServer(false))
	second := newService(t, reg, newTestServer(false))
	startService(t, first)
	startService(t, second)
	nodes := registeredNodes(t, reg, "test")
	if len(nodes) != 2 {
		t.Fatalf("want 2 nodes, have %d", len(nodes))
	}
	fingerprint := nodes[0].Metadata[registry.MetadataDescriptorsFingerprint]
	if !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(fingerprint) {
		t.Fatalf("want a fingerprint of 32 hex digits in the node metadata, have %q (%v)", fingerprint, nodes[0].Metadata)
	}
	if have := nodes[1].Metadata[registry.MetadataDescriptorsFingerprint]; have != fingerprint {
		t.Errorf("two nodes of the same build: %q and %q", fingerprint, have)
	}
	if node := first.Node(); node.Metadata[registry.MetadataDescriptorsFingerprint] != fingerprint {
		t.Errorf("Node() should carry it too: %v", node.Metadata)
	}
}

func TestDescriptorsFingerprint(t *testing.T) {
	file := testgrpc.File_grpc_testing_test_proto
	base := service.DescriptorsFingerprint(file)
	if base != service.DescriptorsFingerprint(file, file) {
		t.Error("a file given twice should count once")
	}
	changed := protodesc.ToFileDescriptorProto(file)
	changed.MessageType = append(changed.MessageType, &descriptorpb.DescriptorProto{Name: new("Added")})
	if service.DescriptorsFingerprint(build(t, changed)) == base {
		t.Error("a message added should change the fingerprint")
	}
	commented := protodesc.ToFileDescriptorProto(file)
	commented.SourceCodeInfo = &descriptorpb.SourceCodeInfo{Location: []*descriptorpb.SourceCodeInfo_Location{{Path: []int32{4, 0}, Span: []int32{1, 1, 1}, LeadingComments: new(" new comment")}}}
	if service.DescriptorsFingerprint(build(t, commented)) != base {
		t.Error("comments should not change the fingerprint")
	}
	if service.DescriptorsFingerprint(timestamppb.File_google_protobuf_timestamp_proto) == base {
		t.Error("other files, another fingerprint")
	}
}

func build(t *testing.T, file *descriptorpb.FileDescriptorProto) protoreflect.FileDescriptor {
	t.Helper()
	fd, err := protodesc.NewFile(file, protoregistry.GlobalFiles)
	if err != nil {
		t.Fatal(err)
	}
	return fd
}
