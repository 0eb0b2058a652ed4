package service

import (
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/peer"
)

// Reflection turns the gRPC reflection service (v1 and v1alpha) on, the
// default, or off. Without it, callers describe the service with its .proto
// files or a protoset (`micro call --proto`).
func Reflection(enabled bool) Option {
	return func(o *Options) error {
		o.NoReflection = !enabled
		return nil
	}
}

// logReflection logs each reflection stream a client opens, at debug level:
// who asked the service to describe itself, and how often. A caller with a
// warm descriptor cache opens none.
func logReflection(logger *slog.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, "/grpc.reflection.") && logger.Enabled(ss.Context(), slog.LevelDebug) {
			from := "unknown"
			if p, ok := peer.FromContext(ss.Context()); ok {
				from = p.Addr.String()
			}
			logger.Debug("reflection stream", "method", info.FullMethod, "peer", from)
		}
		return handler(srv, ss)
	}
}
