// Command mucpgreeter runs the mucp fixture (internal/mucp) as a process of
// its own, so that end-to-end tests can kill -9 it: it stands in for a
// default go-micro service, which cannot be built here. It serves on
// --address, registers in Consul with go-micro's tag encoding
// (--registry consul) or answers go-micro's NATS registry queries
// (--registry nats), prints "listening on HOST:PORT" and runs until it is
// signalled.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/internal/mucp"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "mucpgreeter:", err)
		os.Exit(1)
	}
}

func run() error {
	name := flag.String("name", "greeter", "service name")
	version := flag.String("version", "latest", "service version")
	id := flag.String("id", "", "node id (default: name and port)")
	address := flag.String("address", "127.0.0.1:0", "address to serve on")
	reg := flag.String("registry", "consul", "registry: consul or nats")
	regAddress := flag.String("registry-address", "", "registry address")
	ttl := flag.Duration("ttl", 10*time.Second, "consul check TTL")
	flag.Parse()

	srv, err := mucp.Listen(*name, *version, *id, *address)
	if err != nil {
		return err
	}
	defer func() { _ = srv.Close() }()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch *reg {
	case "consul":
		if err := srv.RegisterConsul(ctx, *regAddress, *ttl); err != nil {
			return err
		}
	case "nats":
		nc, err := natsgo.Connect(*regAddress)
		if err != nil {
			return fmt.Errorf("connect to nats at %s: %w", *regAddress, err)
		}
		defer nc.Close()
		if err := srv.ServeNATSRegistry(ctx, nc); err != nil {
			return err
		}
	case "none":
	default:
		return fmt.Errorf("unknown registry %q: use consul, nats or none", *reg)
	}
	fmt.Printf("listening on %s\n", srv.Addr())
	<-ctx.Done()
	time.Sleep(100 * time.Millisecond) // let the deregistration go out
	return nil
}
