// Package handler is relay's Greeter: it passes Hello on to the greeter
// service and says which greeter node answered.
package handler

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// HeaderNode is the response header that holds the address of the greeter
// node that answered.
const HeaderNode = "greeter-node"

var _ greeterpb.GreeterServer = (*Relay)(nil)

// Relay serves greeter.v1.Greeter by calling another Greeter.
type Relay struct {
	greeterpb.UnimplementedGreeterServer
	greeter greeterpb.GreeterClient
}

// New returns a Relay that calls greeter.
func New(greeter greeterpb.GreeterClient) *Relay { return &Relay{greeter: greeter} }

// Hello asks the greeter and answers what it said; the greeter-node header
// says which node it was.
func (r *Relay) Hello(ctx context.Context, req *greeterpb.HelloRequest) (*greeterpb.HelloResponse, error) {
	var from peer.Peer
	resp, err := r.greeter.Hello(ctx, req, grpc.Peer(&from))
	if from.Addr != nil {
		_ = grpc.SetHeader(ctx, metadata.Pairs(HeaderNode, from.Addr.String()))
	}
	return resp, err
}
