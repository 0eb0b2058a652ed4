package callutil

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
)

// completionTimeout bounds what completing one word may take: the shell
// waits for it.
const completionTimeout = 2 * time.Second

// CompleteServiceAndEndpoint completes the call forms: the service name
// from the registry, svc.Method once the word holds a registered service
// and a dot (greeter.Greeter.Hello), and the endpoint after a service given
// alone (greeter Greeter.Hello). Endpoints come from the service's
// descriptors (the descriptor cache when warm), honouring the flags already
// typed (--address, --proto, TLS, -H).
func CompleteServiceAndEndpoint(f *cmdutil.Factory, conn *ConnectionFlags, desc *DescriptorFlags, headers *HeaderFlags) cobra.CompletionFunc {
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		rt := NewRuntime(f, func() string { return "" })
		var reflectHeaders metadata.MD
		if headers != nil {
			reflectHeaders, _ = headers.Reflection()
		}
		endpointsOf := func(service string) []string {
			endpoints, _ := Endpoints(cmd.Context(), rt, conn, desc, reflectHeaders, service)
			return endpoints
		}
		switch len(args) {
		case 0:
			var services []string
			if conn.Address == "" {
				services = registeredServices(cmd.Context(), f)
			} else if i := strings.IndexByte(toComplete, '.'); i > 0 {
				services = []string{toComplete[:i]}
			}
			return CompleteTarget(services, endpointsOf, toComplete), cobra.ShellCompDirectiveNoFileComp
		case 1:
			if strings.Contains(args[0], ".") && conn.Address != "" {
				return nil, cobra.ShellCompDirectiveNoFileComp
			}
			var out []cobra.Completion
			for _, e := range endpointsOf(args[0]) {
				if strings.HasPrefix(e, toComplete) {
					out = append(out, e)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// CompleteTarget completes the first word of a call: the registered
// services that start with toComplete, and, for each service that toComplete
// already holds followed by a dot, svc.Endpoint for its endpoints.
func CompleteTarget(services []string, endpointsOf func(service string) []string, toComplete string) []string {
	var out []string
	for _, svc := range services {
		if strings.HasPrefix(svc, toComplete) && !slices.Contains(out, svc) {
			out = append(out, svc)
		}
	}
	for _, svc := range services {
		if !strings.HasPrefix(toComplete, svc+".") {
			continue
		}
		for _, e := range endpointsOf(svc) {
			if candidate := svc + "." + e; strings.HasPrefix(candidate, toComplete) && !slices.Contains(out, candidate) {
				out = append(out, candidate)
			}
		}
	}
	return out
}

// registeredServices lists the names of the registered services, or none
// when the registry cannot be read in time.
func registeredServices(ctx context.Context, f *cmdutil.Factory) []string {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	reg, err := f.Registry(ctx)
	if err != nil {
		return nil
	}
	services, err := reg.ListServices(ctx)
	if err != nil {
		return nil
	}
	names := make([]string, 0, len(services))
	for _, svc := range services {
		names = append(names, svc.Name)
	}
	return names
}

// Endpoints lists the methods of service as they are typed: Service.Method
// when the service name alone is unambiguous, else package.Service.Method.
// The gRPC reflection and health services are left out.
func Endpoints(ctx context.Context, rt Runtime, conn *ConnectionFlags, desc *DescriptorFlags, reflectHeaders metadata.MD, service string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	client, err := NewClient(ctx, rt, conn, desc, reflectHeaders, func(string) {})
	if err != nil {
		return nil, err
	}
	defer client.Close()
	if names, ok := mucpEndpoints(ctx, rt, client, desc, service); ok {
		return names, nil
	}
	src, err := client.Source(ctx, service)
	if err != nil {
		return nil, err
	}
	names, err := UserServices(ctx, src)
	if err != nil {
		return nil, err
	}
	short := map[string]int{}
	for _, name := range names {
		short[shortName(name)]++
	}
	var endpoints []string
	for _, name := range names {
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			continue
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		prefix := name
		if short[shortName(name)] == 1 {
			prefix = shortName(name)
		}
		for i := range sd.Methods().Len() {
			endpoints = append(endpoints, prefix+"."+string(sd.Methods().Get(i).Name()))
		}
	}
	return endpoints, nil
}

// UserServices lists the services of src without gRPC's own (reflection
// and health), which every service built on pkg/service serves.
func UserServices(ctx context.Context, src call.DescriptorSource) ([]string, error) {
	names, err := src.ListServices(ctx)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(names, IsGRPCService), nil
}

// IsGRPCService tells whether a service is one of gRPC's own.
func IsGRPCService(name string) bool {
	return strings.HasPrefix(name, "grpc.reflection.") || strings.HasPrefix(name, "grpc.health.")
}

func shortName(full string) string {
	if i := strings.LastIndexByte(full, '.'); i >= 0 {
		return full[i+1:]
	}
	return full
}
