package service_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"

	"github.com/microtools/micro/pkg/broker"
	brokermemory "github.com/microtools/micro/pkg/broker/memory"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/service"
)

// A service registers its node and its endpoints while it runs. Run would
// serve until its context ends; Start and Stop give the same steps to a
// caller that manages the lifetime itself.
func Example() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()

	svc, err := service.New(
		service.Name("example"),
		service.Registry(reg),
		service.Address("127.0.0.1:0"),
		service.Handle(func(s grpc.ServiceRegistrar) {
			testgrpc.RegisterTestServiceServer(s, testgrpc.UnimplementedTestServiceServer{})
		}),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}

	records, err := reg.GetService(ctx, "example")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, ep := range records[0].Endpoints[:3] {
		fmt.Println(ep.Name, ep.Metadata["stream"], ep.Request.Name)
	}

	if err := svc.Stop(ctx); err != nil {
		fmt.Println(err)
	}
	_, err = reg.GetService(ctx, "example")
	fmt.Println(err != nil)
	// Output:
	// TestService.CacheableUnaryCall unary grpc.testing.SimpleRequest
	// TestService.EmptyCall unary grpc.testing.Empty
	// TestService.FullDuplexCall bidi grpc.testing.StreamingOutputCallRequest
	// true
}

// EnvOptions turns MICRO_* variables into options; pass os.LookupEnv in a
// program.
func ExampleEnvOptions() {
	env := map[string]string{"MICRO_REGISTER_TTL": "soon"}
	_, err := service.EnvOptions(func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	fmt.Println(err)
	// Output:
	// service: environment: MICRO_REGISTER_TTL="soon": not a duration such as 30s or a number of seconds
}

// A subscriber handles the events of a topic while the service runs; the
// handler gets the decoded message.
func ExampleSubscribe() {
	ctx := context.Background()
	reg := memory.New()
	defer reg.Close()
	events := brokermemory.New()
	defer events.Close()

	handled := make(chan string, 1)
	svc, err := service.New(
		service.Name("example"),
		service.Registry(reg),
		service.Address("127.0.0.1:0"),
		service.Broker(events),
		service.Subscribe("users.created", service.ProtoHandler(func(ctx context.Context, user *testgrpc.SimpleResponse) error {
			handled <- user.GetUsername()
			return nil
		})),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := svc.Start(ctx); err != nil {
		fmt.Println(err)
		return
	}
	defer svc.Stop(ctx)

	msg := &broker.Message{
		Header: broker.Header{broker.HeaderContentType: {"application/json"}},
		Body:   []byte(`{"username":"Ada"}`),
	}
	if err := events.Publish(ctx, "users.created", msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-handled)
	// Output: Ada
}
