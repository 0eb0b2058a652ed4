package gen_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/microtools/micro/pkg/gen"
)

// Generate Go code for a .proto file, here read from memory instead of the
// import path on disk.
func Example() {
	const src = `syntax = "proto3";
package orders.v1;
option go_package = "example.com/orders/proto;orderspb";
service Orders { rpc Get(GetRequest) returns (Order); }
message GetRequest { string id = 1; }
message Order { string id = 1; }
`
	files, err := gen.Generate(context.Background(), gen.Options{
		ImportPaths: []string{"proto"},
		Files:       []string{"orders.proto"},
		Open: func(path string) (io.ReadCloser, error) {
			if path != "proto/orders.proto" {
				return nil, os.ErrNotExist
			}
			return io.NopCloser(strings.NewReader(src)), nil
		},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, f := range files {
		fmt.Println(f.Name, strings.Contains(string(f.Content), "package orderspb"))
	}
	// Output:
	// orders.pb.go true
	// orders_grpc.pb.go true
}
