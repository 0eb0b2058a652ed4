package grpc_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"

	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// A connection that cannot be made says why at once.
func ExampleDial_refused() {
	listener, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	addr := listener.Addr().String()
	listener.Close() // nothing listens there now

	_, err = grpctransport.Dial(context.Background(), addr, grpctransport.DialOptions{})
	fmt.Println(strings.Replace(err.Error(), addr, "ADDRESS", 1))
	// Output:
	// connect to ADDRESS: connection refused
}
