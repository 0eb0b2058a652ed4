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
// The registered record names each method go-micro style ("Greeter.Hello")
// and describes its request and response messages from the descriptors the
// generated code registers in protoregistry.GlobalFiles.
package service
