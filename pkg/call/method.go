package call

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// FindMethod resolves an endpoint to a method descriptor through src.
//
// endpoint is one of
//
//	greeter.v1.Greeter/Hello   the gRPC form (a leading "/" is allowed)
//	greeter.v1.Greeter.Hello   the fully qualified method name
//	Greeter.Hello              go-micro style: the package is left out
//	Hello                      the method alone, of whichever service has it
//
// A service name without its package matches the one service of src with
// that name; when several packages have one, the error (ErrAmbiguousService)
// lists them. A method name alone matches the one service of src that has
// such a method (the services of src's own go first: gRPC's reflection and
// health services are looked at only when none of the others has it); when
// several have it, the error (ErrAmbiguousService) lists them. service is the name the caller knows the service by (a registry
// name such as "greeter"); it is used only in error messages and may be empty.
//
// An unknown service wraps ErrServiceNotFound and lists the services of src;
// an unknown method wraps ErrMethodNotFound and lists the service's methods.
// When src is a Refresher (a cache), it is refreshed once before either is
// reported.
func FindMethod(ctx context.Context, src DescriptorSource, service, endpoint string) (protoreflect.MethodDescriptor, error) {
	serviceName, methodName, err := splitEndpoint(endpoint)
	if err != nil {
		return nil, err
	}
	md, err := findMethod(ctx, src, service, serviceName, methodName)
	if refresher, ok := src.(Refresher); ok &&
		(errors.Is(err, ErrServiceNotFound) || errors.Is(err, ErrMethodNotFound)) {
		if refreshErr := refresher.Refresh(ctx); refreshErr != nil {
			return nil, fmt.Errorf("%w (and refreshing the descriptors failed: %w)", err, refreshErr)
		}
		md, err = findMethod(ctx, src, service, serviceName, methodName)
	}
	return md, err
}

// splitEndpoint splits an endpoint into its service and method names.
func splitEndpoint(endpoint string) (service, method string, err error) {
	trimmed := strings.TrimPrefix(strings.TrimSpace(endpoint), "/")
	cut := strings.LastIndexAny(trimmed, "/.")
	if cut < 0 && trimmed != "" && !strings.ContainsAny(trimmed, " \t{") {
		return "", trimmed, nil // the method alone
	}
	if cut <= 0 || cut == len(trimmed)-1 {
		return "", "", fmt.Errorf("endpoint %q is not Service.Method, package.Service.Method or package.Service/Method", endpoint)
	}
	return trimmed[:cut], trimmed[cut+1:], nil
}

func findMethod(ctx context.Context, src DescriptorSource, label, serviceName, methodName string) (protoreflect.MethodDescriptor, error) {
	where := ofService(label)
	if serviceName == "" {
		return findMethodAlone(ctx, src, where, methodName)
	}
	sd, err := findService(ctx, src, where, serviceName)
	if err != nil {
		return nil, err
	}
	md := sd.Methods().ByName(protoreflect.Name(methodName))
	if md == nil {
		methods := make([]string, sd.Methods().Len())
		for i := range methods {
			methods[i] = string(sd.Methods().Get(i).Name())
		}
		return nil, fmt.Errorf("%w: %s has no method %q; its methods: %s",
			ErrMethodNotFound, sd.FullName(), methodName, listOrNone(methods))
	}
	return md, nil
}

// findMethodAlone finds the one service of src that has a method named
// methodName; gRPC's own services count only when no other has it.
func findMethodAlone(ctx context.Context, src DescriptorSource, where ofService, methodName string) (protoreflect.MethodDescriptor, error) {
	services, err := src.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("find method %q%s: %w", methodName, where, err)
	}
	var own, grpcs []protoreflect.MethodDescriptor
	for _, name := range services {
		d, err := src.FindSymbol(ctx, name)
		if err != nil {
			if errors.Is(err, ErrSymbolNotFound) {
				continue
			}
			return nil, fmt.Errorf("find method %q%s: %w", methodName, where, err)
		}
		sd, ok := d.(protoreflect.ServiceDescriptor)
		if !ok {
			continue
		}
		if md := sd.Methods().ByName(protoreflect.Name(methodName)); md != nil {
			if isGRPCService(name) {
				grpcs = append(grpcs, md)
			} else {
				own = append(own, md)
			}
		}
	}
	matches := own
	if len(matches) == 0 {
		matches = grpcs
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("%w: no service%s has a method %q; services: %s", ErrMethodNotFound, where, methodName, listOrNone(services))
	case 1:
		return matches[0], nil
	}
	names := make([]string, len(matches))
	for i, md := range matches {
		names[i] = string(md.FullName())
	}
	return nil, fmt.Errorf("%w: %d services%s have a method %q: %s; name the service too (Service.Method)", ErrAmbiguousService, len(matches), where, methodName, strings.Join(names, ", "))
}

// ofService is " of SERVICE" in the errors of a lookup for SERVICE, or ""
// without one; made only when an error is (a lookup is made on every
// call).
type ofService string

func (s ofService) String() string {
	if s == "" {
		return ""
	}
	return " of " + string(s)
}

// isGRPCService tells whether a service is one of gRPC's own (reflection,
// health), which servers serve besides their own.
func isGRPCService(name string) bool {
	return strings.HasPrefix(name, "grpc.reflection.") || strings.HasPrefix(name, "grpc.health.")
}

// findService finds a service by full name, or by its name without the
// package when that is unambiguous.
func findService(ctx context.Context, src DescriptorSource, where ofService, name string) (protoreflect.ServiceDescriptor, error) {
	if strings.Contains(name, ".") {
		d, err := src.FindSymbol(ctx, name)
		if err == nil {
			if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
				return sd, nil
			}
		} else if !errors.Is(err, ErrSymbolNotFound) {
			return nil, fmt.Errorf("find service %q%s: %w", name, where, err)
		}
	}
	services, err := src.ListServices(ctx)
	if err != nil {
		return nil, fmt.Errorf("find service %q%s: %w", name, where, err)
	}
	var matches []string
	for _, service := range services {
		if service == name || strings.HasSuffix(service, "."+name) {
			matches = append(matches, service)
		}
	}
	switch len(matches) {
	case 0:
		return nil, fmt.Errorf("%w: no service %q%s; services: %s", ErrServiceNotFound, name, where, listOrNone(services))
	case 1:
	default:
		return nil, fmt.Errorf("%w: %q%s matches %s; give the full name", ErrAmbiguousService, name, where, strings.Join(matches, ", "))
	}
	d, err := src.FindSymbol(ctx, matches[0])
	if err != nil {
		return nil, fmt.Errorf("find service %q%s: %w", matches[0], where, err)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%w: %q%s is not a service", ErrServiceNotFound, matches[0], where)
	}
	return sd, nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}

// FullMethodName is the gRPC name of a method: /package.Service/Method.
func FullMethodName(md protoreflect.MethodDescriptor) string {
	return "/" + string(md.Parent().FullName()) + "/" + string(md.Name())
}
