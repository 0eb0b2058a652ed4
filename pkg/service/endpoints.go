package service

import (
	"cmp"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/microtools/micro/pkg/registry"
)

// Endpoint metadata keys and the values of EndpointStream.
const (
	// EndpointStream says how a method streams: StreamUnary, StreamServer,
	// StreamClient or StreamBidi.
	EndpointStream = "stream"
	// EndpointService is the full gRPC service name: "greeter.v1.Greeter".
	EndpointService = "service"
	// EndpointMethod is the full gRPC method: "/greeter.v1.Greeter/Hello".
	EndpointMethod = "method"

	StreamUnary  = "unary"
	StreamServer = "server"
	StreamClient = "client"
	StreamBidi   = "bidi"
)

// isInfrastructure reports whether a gRPC service is one the Service adds
// itself (reflection, health) rather than one it was given to serve.
func isInfrastructure(service string) bool {
	return strings.HasPrefix(service, "grpc.reflection.") || strings.HasPrefix(service, "grpc.health.")
}

// endpoints describes the methods of the served services, sorted by name,
// skipping reflection and health. Each is named go-micro style, "Greeter.Hello";
// its request and response are looked up in files by the proto file named in
// the service info's Metadata (what generated code puts there), or by the
// service's full name. A method whose descriptors cannot be found is still
// listed, without Request and Response.
func endpoints(info map[string]grpc.ServiceInfo, files *protoregistry.Files) []*registry.Endpoint {
	var out []*registry.Endpoint
	for service, si := range info {
		if isInfrastructure(service) {
			continue
		}
		sd := findService(files, service, si.Metadata)
		short := service[strings.LastIndex(service, ".")+1:]
		for _, m := range si.Methods {
			ep := &registry.Endpoint{
				Name: short + "." + m.Name,
				Metadata: map[string]string{
					EndpointStream:  streamKind(m.IsClientStream, m.IsServerStream),
					EndpointService: service,
					EndpointMethod:  "/" + service + "/" + m.Name,
				},
			}
			if sd != nil {
				if md := sd.Methods().ByName(protoreflect.Name(m.Name)); md != nil {
					ep.Request = messageValue(md.Input())
					ep.Response = messageValue(md.Output())
				}
			}
			out = append(out, ep)
		}
	}
	slices.SortFunc(out, func(a, b *registry.Endpoint) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.Metadata[EndpointService], b.Metadata[EndpointService]))
	})
	return out
}

func findService(files *protoregistry.Files, service string, metadata any) protoreflect.ServiceDescriptor {
	if path, ok := metadata.(string); ok && path != "" {
		if fd, err := files.FindFileByPath(path); err == nil {
			if sd := fd.Services().ByName(protoreflect.FullName(service).Name()); sd != nil && sd.FullName() == protoreflect.FullName(service) {
				return sd
			}
		}
	}
	if d, err := files.FindDescriptorByName(protoreflect.FullName(service)); err == nil {
		if sd, ok := d.(protoreflect.ServiceDescriptor); ok {
			return sd
		}
	}
	return nil
}

func streamKind(client, server bool) string {
	switch {
	case client && server:
		return StreamBidi
	case client:
		return StreamClient
	case server:
		return StreamServer
	default:
		return StreamUnary
	}
}

// messageValue describes a message and its fields, one level deep: the
// message's Name and Type are its full name; each field's Name is its proto
// name and its Type a scalar kind ("string", "int64"), an enum or message
// full name, "[]T" for a repeated field or "map[K]V" for a map.
func messageValue(md protoreflect.MessageDescriptor) *registry.Value {
	v := &registry.Value{Name: string(md.FullName()), Type: string(md.FullName())}
	fields := md.Fields()
	for i := range fields.Len() {
		fd := fields.Get(i)
		v.Values = append(v.Values, &registry.Value{Name: string(fd.Name()), Type: fieldType(fd)})
	}
	return v
}

func fieldType(fd protoreflect.FieldDescriptor) string {
	switch {
	case fd.IsMap():
		return "map[" + singularType(fd.MapKey()) + "]" + singularType(fd.MapValue())
	case fd.IsList():
		return "[]" + singularType(fd)
	default:
		return singularType(fd)
	}
}

func singularType(fd protoreflect.FieldDescriptor) string {
	switch fd.Kind() {
	case protoreflect.EnumKind:
		return string(fd.Enum().FullName())
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return string(fd.Message().FullName())
	default:
		return fd.Kind().String()
	}
}
