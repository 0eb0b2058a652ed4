package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"google.golang.org/grpc"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/service"
)

// serviceName and serviceVersion are what greeter registers as;
// MICRO_SERVICE_VERSION overrides the version.
const (
	serviceName    = "greeter"
	serviceVersion = "1.0.0"
)

// envLogLevel sets how much greeter logs: debug, info (the default), warn or
// error. At debug it logs each reflection stream a caller opens.
const envLogLevel = "MICRO_LOG_LEVEL"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.LookupEnv, os.Stderr)
	stop()
	if err != nil {
		// One line, whatever the error joined together.
		fmt.Fprintln(os.Stderr, serviceName+": "+strings.ReplaceAll(err.Error(), "\n", "; "))
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool), stderr io.Writer) error {
	var level slog.Level // info
	if v, ok := lookup(envLogLevel); ok && v != "" {
		if err := level.UnmarshalText([]byte(v)); err != nil {
			return fmt.Errorf("%s=%q: want debug, info, warn or error", envLogLevel, v)
		}
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := config.FromEnv(lookup)
	if err != nil {
		return err
	}
	envOpts, err := service.EnvOptions(lookup)
	if err != nil {
		return err
	}
	// Failovers between registry members, and what the registry skipped,
	// are logged once each.
	cfg.RegistryWarn = func(err error) { logger.Warn("registry", "error", err) }
	reg, err := cfg.NewRegistry(ctx)
	if err != nil {
		return err
	}
	if closer, ok := reg.(io.Closer); ok {
		defer closer.Close()
	}
	eventOpts, closeBroker, err := eventOptions(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeBroker()

	opts := []service.Option{
		service.Name(serviceName),
		service.Version(serviceVersion),
		service.Registry(reg),
		service.Logger(logger),
		service.Handle(func(s grpc.ServiceRegistrar) {
			greeterpb.RegisterGreeterServer(s, handler.New())
		}),
	}
	opts = append(opts, eventOpts...)
	opts = append(opts, envOpts...)
	svc, err := service.New(opts...)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// eventOptions connects to the broker and subscribes to greeter.greeted.
// A broker that was named (MICRO_BROKER, MICRO_BROKER_ADDRESS) must be reachable; the
// default one may be missing when the registry is not NATS (Consul), and
// then greeter runs without events and says so.
func eventOptions(ctx context.Context, cfg config.Config, logger *slog.Logger) ([]service.Option, func(), error) {
	events, err := cfg.NewBroker(ctx, config.WithBrokerLogger(logger))
	switch {
	case err == nil:
	case errors.Is(err, broker.ErrUnreachable) && cfg.Broker == "" && cfg.BrokerAddress == "" && cfg.Registry != config.RegistryNATS:
		logger.Warn("events disabled: no broker; set "+config.EnvBrokerAddress+" to a NATS server to handle "+handler.TopicGreeted, "error", err)
		return nil, func() {}, nil
	default:
		return nil, nil, err
	}
	return []service.Option{
		service.Broker(events),
		service.Subscribe(handler.TopicGreeted, service.ProtoHandler(handler.NewEvents(logger).Greeted)),
	}, func() { _ = events.Close() }, nil
}
