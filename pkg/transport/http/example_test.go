package http_test

import (
	"context"
	"fmt"

	"github.com/microtools/micro/internal/mucp"
	"github.com/microtools/micro/pkg/transport"
	httptransport "github.com/microtools/micro/pkg/transport/http"
)

// One mucp request to a node of a go-micro service (the fixture here).
func ExampleTransport() {
	node, _ := mucp.Listen("greeter", "1.0.0", "greeter-1", "127.0.0.1:0")
	defer node.Close()

	conn, err := httptransport.New(httptransport.Options{}).Dial(context.Background(), node.Addr())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	resp, err := conn.Call(context.Background(), &transport.Request{
		Service:     "greeter",
		Endpoint:    "Greeter.Hello",
		ContentType: "application/json",
		Body:        []byte(`{"name":"Ada"}`),
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(string(resp.Body))

	_, err = conn.Call(context.Background(), &transport.Request{
		Service: "greeter", Endpoint: "Greeter.Fail", ContentType: "application/json",
		Body: []byte(`{"code":404,"detail":"no such greeting"}`),
	})
	fmt.Println(err.(*transport.Error).Code, err.(*transport.Error).Detail)
	// Output:
	// {"message":"Hello Ada"}
	// NotFound no such greeting
}
