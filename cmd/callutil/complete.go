package callutil

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/call"
)

// completionTimeout bounds what completing one word may take: the shell
// waits for it.
const completionTimeout = 2 * time.Second

// CompleteServiceAndEndpoint completes the service name from the registry,
// then its endpoints from its descriptors (the descriptor cache when warm),
// honouring the flags already typed (--address, --proto, TLS).
func CompleteServiceAndEndpoint(f *cmdutil.Factory, conn *ConnectionFlags, desc *DescriptorFlags) cobra.CompletionFunc {
	services := cmdutil.CompleteServiceNames(f)
	return func(cmd *cobra.Command, args []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
		switch len(args) {
		case 0:
			return services(cmd, args, toComplete)
		case 1:
			endpoints, _ := Endpoints(cmd.Context(), NewRuntime(f, func() string { return "" }), conn, desc, args[0])
			var out []cobra.Completion
			for _, e := range endpoints {
				if strings.HasPrefix(e, toComplete) {
					out = append(out, e)
				}
			}
			return out, cobra.ShellCompDirectiveNoFileComp
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
}

// Endpoints lists the methods of service as they are typed: Service.Method
// when the service name alone is unambiguous, else package.Service.Method.
// The gRPC reflection and health services are left out.
func Endpoints(ctx context.Context, rt Runtime, conn *ConnectionFlags, desc *DescriptorFlags, service string) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	client, err := NewClient(ctx, rt, conn, desc, func(string) {})
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
