// Package service runs a gRPC microservice: it listens, serves the
// implementations it is given together with server reflection (v1 and
// v1alpha) and grpc.health.v1, registers the node in a registry.Registry with
// a TTL, keeps the registration alive with a heartbeat and, on stop,
// deregisters before it drains in-flight calls.
//
// A service is built from options in code, optionally followed by the
// options EnvOptions reads from MICRO_* environment variables:
//
//	envOpts, err := service.EnvOptions(os.LookupEnv)
//	...
//	svc, err := service.New(append([]service.Option{
//		service.Name("greeter"),
//		service.Registry(reg),
//		service.Handle(func(s grpc.ServiceRegistrar) { greeterpb.RegisterGreeterServer(s, handler.New()) }),
//	}, envOpts...)...)
//	...
//	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
//	defer stop()
//	err = svc.Run(ctx)
//
// A service also handles events: with a broker.Broker (the Broker option)
// it subscribes each Subscribe option's topic once its gRPC server is up,
// and on stop, after deregistering, it stops receiving and lets the
// handlers finish while the gRPC server drains:
//
//	service.Broker(b),
//	service.Subscribe("greeter.greeted", service.ProtoHandler(func(ctx context.Context, ev *greeterpb.Greeted) error {
//		...
//	})),
//
// ProtoHandler decodes JSON (protojson) or binary protobuf as the message's
// Content-Type says. The instances of a service share a topic's messages in
// a queue group named after the service (Broadcast gives each instance every
// message); up to DefaultSubscriberConcurrency handlers run at once per
// subscriber; errors are logged and panics are recovered and logged, so a
// bad message never takes the service down.
//
// The registered record names each method go-micro style ("Greeter.Hello")
// and describes its request and response messages from the descriptors the
// generated code registers in protoregistry.GlobalFiles.
package service
