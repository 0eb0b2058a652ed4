package protofeatures_test

import (
	"testing"

	"github.com/bufbuild/protocompile"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/internal/protofeatures"
)

// TestRegistered: the generated files are in the global registry, which is
// where protocompile's initialisation looks for them, and protocompile's
// standard imports hold these very descriptors (so it built none itself).
func TestRegistered(t *testing.T) {
	tests := []struct {
		path string
		want protoreflect.FileDescriptor
	}{
		{"google/protobuf/cpp_features.proto", protofeatures.File_google_protobuf_cpp_features_proto},
		{"google/protobuf/java_features.proto", protofeatures.File_google_protobuf_java_features_proto},
	}
	resolver := protocompile.WithStandardImports(protocompile.ResolverFunc(func(path string) (protocompile.SearchResult, error) {
		return protocompile.SearchResult{}, protoregistry.NotFound
	}))
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			have, err := protoregistry.GlobalFiles.FindFileByPath(tt.path)
			if err != nil {
				t.Fatalf("GlobalFiles.FindFileByPath: %v", err)
			}
			if have != tt.want {
				t.Errorf("GlobalFiles has another descriptor of %s than the generated one", tt.path)
			}
			res, err := resolver.FindFileByPath(tt.path)
			if err != nil {
				t.Fatalf("protocompile's standard imports: %v", err)
			}
			if res.Desc != tt.want {
				t.Errorf("protocompile's standard import %s is not the generated descriptor: it built its own at init", tt.path)
			}
		})
	}
}
