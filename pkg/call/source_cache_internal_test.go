package call

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
)

// TestCacheEntryLoadsWithoutLinking writes an entry of the kitchen-sink
// proto (every field kind, well-known types, nested and map types) as a
// server's reflection gives it, without source code info, and checks that
// loadVerified takes it, that what it builds describes the same files as
// the linked originals, and that an entry whose bytes were changed, one
// without a sum and one with comments are not taken.
func TestCacheEntryLoadsWithoutLinking(t *testing.T) {
	ctx := context.Background()
	compiled, err := NewProtoSource(ctx, []string{"testdata"}, "kitchen/v1/kitchen.proto")
	if err != nil {
		t.Fatal(err)
	}
	stripped := DescriptorSetOf(allFiles(compiled.files)...)
	for _, file := range stripped.GetFile() {
		file.SourceCodeInfo = nil
	}
	kitchen, err := NewDescriptorSetSource(stripped, "kitchen without comments")
	if err != nil {
		t.Fatal(err)
	}
	src, err := NewCachedSource(t.TempDir(), CacheKey{Service: "kitchen"}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	services, err := src.ListServices(ctx) // fetches and writes the entry
	if err != nil || len(services) == 0 {
		t.Fatalf("ListServices: %v %v", services, err)
	}
	data, err := os.ReadFile(src.Path())
	if err != nil {
		t.Fatal(err)
	}

	files, served, ok := loadVerified(data)
	if !ok {
		t.Fatal("loadVerified refused an entry the cache wrote")
	}
	if len(served) != len(services) {
		t.Errorf("served: want %q, have %q", services, served)
	}
	want := kitchen.files
	if have, wantN := files.NumFiles(), want.NumFiles(); have != wantN {
		t.Errorf("want %d files, have %d", wantN, have)
	}
	want.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		got, err := files.FindFileByPath(fd.Path())
		if err != nil {
			t.Errorf("%s: %v", fd.Path(), err)
			return true
		}
		// Every detail the builder resolves on first use, compared in
		// the one form both sides have.
		have := protodesc.ToFileDescriptorProto(got).String()
		if wantText := protodesc.ToFileDescriptorProto(fd).String(); have != wantText {
			t.Errorf("%s differs once loaded:\nwant %s\nhave %s", fd.Path(), wantText, have)
		}
		return true
	})

	changed := append([]byte(nil), data...)
	changed[len(changed)/2] ^= 0x01
	if _, _, ok := loadVerified(changed); ok {
		t.Error("loadVerified took an entry whose bytes changed after its sum was written")
	}
	var set descriptorpb.FileDescriptorSet
	set.File = append(set.File, protodesc.ToFileDescriptorProto(descriptorpb.File_google_protobuf_descriptor_proto))
	plain, err := proto.Marshal(&set)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := loadVerified(plain); ok {
		t.Error("loadVerified took a protoset without a sum")
	}

	// The next run's source loads the entry that way.
	reread, err := NewCachedSource(filepath.Dir(src.Path()), CacheKey{Service: "kitchen"}, kitchen)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := reread.ListServices(ctx); err != nil {
		t.Fatal(err)
	}
	if reread.raw == nil {
		t.Error("the second source did not load the entry without decoding it")
	}

	// With comments, the entry is read and linked in full, and keeps them.
	commented, err := NewCachedSource(t.TempDir(), CacheKey{Service: "kitchen"}, compiled)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := commented.ListServices(ctx); err != nil {
		t.Fatal(err)
	}
	data, err = os.ReadFile(commented.Path())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, ok := loadVerified(data); ok {
		t.Error("loadVerified took an entry with source code info, which it would lose")
	}
	again, err := NewCachedSource(filepath.Dir(commented.Path()), CacheKey{Service: "kitchen"}, compiled)
	if err != nil {
		t.Fatal(err)
	}
	d, err := again.FindSymbol(ctx, services[0])
	if err != nil {
		t.Fatal(err)
	}
	if loc := d.ParentFile().SourceLocations().ByDescriptor(d); loc.LeadingComments == "" {
		t.Errorf("%s lost its comment through the cache", services[0])
	}
}

func allFiles(files *protoregistry.Files) []protoreflect.FileDescriptor {
	var out []protoreflect.FileDescriptor
	files.RangeFiles(func(fd protoreflect.FileDescriptor) bool {
		out = append(out, fd)
		return true
	})
	return out
}
