// Command kitchen is a test server for the console's browser tests: it
// serves kitchen.v1.Kitchen of pkg/call/testdata/kitchen/v1/kitchen.proto
// (a message with a field of every kind) through pkg/service, registered
// in the registry like any service, with reflection and health. Its one
// method, Place, answers each order with the order it was given. The
// .proto is compiled when it starts (KITCHEN_PROTO_DIR names the import
// directory, pkg/call/testdata by default); there is no generated code.
//
// The registry and the server address come from the MICRO_* environment,
// as for the greeter.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/config"
	"github.com/microtools/micro/pkg/service"
)

const (
	serviceName = "kitchen"
	protoFile   = "kitchen/v1/kitchen.proto"
	grpcService = "kitchen.v1.Kitchen"
	// envProtoDir names the import directory of kitchen/v1/kitchen.proto.
	envProtoDir = "KITCHEN_PROTO_DIR"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.LookupEnv)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "kitchen: "+err.Error())
		os.Exit(1)
	}
}

func run(ctx context.Context, lookup func(string) (string, bool)) error {
	dir, ok := lookup(envProtoDir)
	if !ok || dir == "" {
		dir = "pkg/call/testdata"
	}
	src, err := call.NewProtoSource(ctx, []string{dir}, protoFile)
	if err != nil {
		return fmt.Errorf("compile %s in %s (set %s): %w", protoFile, dir, envProtoDir, err)
	}
	d, err := src.FindSymbol(ctx, grpcService)
	if err != nil {
		return err
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return fmt.Errorf("%s is not a service", grpcService)
	}
	// pkg/service's reflection and endpoint records read the global
	// registry of files, where generated code would have put this one.
	if err := protoregistry.GlobalFiles.RegisterFile(sd.ParentFile()); err != nil {
		return fmt.Errorf("register %s: %w", protoFile, err)
	}

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
	desc := echoService(sd)
	opts := append([]service.Option{
		service.Name(serviceName),
		service.Version("1.0.0"),
		service.Registry(reg),
		service.Handle(func(s grpc.ServiceRegistrar) { s.RegisterService(desc, struct{}{}) }),
	}, envOpts...)
	svc, err := service.New(opts...)
	if err != nil {
		return err
	}
	return svc.Run(ctx)
}

// echoService is a grpc.ServiceDesc of sd whose unary methods answer with
// the request.
func echoService(sd protoreflect.ServiceDescriptor) *grpc.ServiceDesc {
	desc := &grpc.ServiceDesc{ServiceName: string(sd.FullName()), HandlerType: (*any)(nil), Metadata: sd.ParentFile().Path()}
	methods := sd.Methods()
	for i := 0; i < methods.Len(); i++ {
		md := methods.Get(i)
		if md.IsStreamingClient() || md.IsStreamingServer() {
			continue
		}
		desc.Methods = append(desc.Methods, grpc.MethodDesc{
			MethodName: string(md.Name()),
			Handler: func(_ any, ctx context.Context, decode func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				in := dynamicpb.NewMessage(md.Input())
				if err := decode(in); err != nil {
					return nil, err
				}
				echo := func(context.Context, any) (any, error) { return in, nil }
				if interceptor == nil {
					return echo(ctx, in)
				}
				return interceptor(ctx, in, &grpc.UnaryServerInfo{FullMethod: "/" + desc.ServiceName + "/" + string(md.Name())}, echo)
			},
		})
	}
	return desc
}
