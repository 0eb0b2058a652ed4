package api_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"google.golang.org/grpc"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/api"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/service"
)

// A gateway over a registry and a client: every registered service is
// callable over HTTP. callClient adapts pkg/client's Client to api.Client, as
// cmd/api/client.go does.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	svc, err := service.New(service.Name("greeter"), service.Registry(reg), service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }))
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Stop(ctx)

	cl, err := client.New(client.Options{Registry: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer cl.Close()
	gw, err := api.New(api.Options{Registry: reg, Client: callClient{client: cl}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer gw.Close()
	srv := httptest.NewServer(gw)
	defer srv.Close()

	for _, path := range []string{"/greeter/Greeter.Hello", "/greeter.v1.Greeter/Hello"} {
		resp, err := http.Post(srv.URL+path, "application/json", strings.NewReader(`{"name":"Ada"}`))
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, strings.TrimSpace(string(body)))
	}
	// Output:
	// 200 {"message":"Hello Ada"}
	// 200 {"message":"Hello Ada"}
}
