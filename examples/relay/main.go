// Command relay is the second example service: it serves greeter.v1.Greeter
// itself and answers Hello by calling the greeter service by name through
// its generated stubs, over pkg/client's resolver and balancer
// (client.Dial("greeter", ...)): the nodes come from the registry watch,
// calls are spread round robin over the ready ones, and a node that goes
// away stops being picked.
//
// Each answer carries the address of the greeter node that made it in the
// "greeter-node" response header, so that the spread can be seen:
//
//	micro call relay.Hello '{"name":"Ada"}' -v
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/examples/relay/handler"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/service"
)

// serviceName is what relay registers as; target is what it calls.
const (
	serviceName    = "relay"
	serviceVersion = "1.0.0"
	target         = "greeter"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.LookupEnv, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, serviceName+": "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer) error {
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	cfg, err := config.FromEnv(lookup)
	if err != nil {
		return err
	}
	envOpts, err := service.EnvOptions(lookup)
	if err != nil {
		return err
	}
	reg, err := cfg.NewRegistry(ctx)
	if err != nil {
		return err
	}
	if closer, ok := reg.(io.Closer); ok {
		defer closer.Close()
	}
	// The greeter, by name: every call picks one of its ready nodes. Hello
	// only greets, so it is safe to send again when its node dies with the
	// call in flight; other calls are sent again only when they cannot
	// have reached a greeter.
	conn, err := client.Dial(target, client.DialOptions{
		Registry:   reg,
		Idempotent: []string{"greeter.v1.Greeter/Hello"},
	})
	if err != nil {
		return err
	}
	defer conn.Close()
	greeter := greeterpb.NewGreeterClient(conn)

	opts := []service.Option{
		service.Name(serviceName),
		service.Version(serviceVersion),
		service.Registry(reg),
		service.Logger(logger),
		service.Handle(func(s grpc.ServiceRegistrar) {
			greeterpb.RegisterGreeterServer(s, handler.New(greeter))
		}),
	}
	svc, err := service.New(append(opts, envOpts...)...)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}
