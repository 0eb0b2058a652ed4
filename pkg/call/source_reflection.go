package call

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/jhump/protoreflect/grpcreflect"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/reflect/protoreflect"
)

var _ DescriptorSource = (*ReflectionSource)(nil)

// ReflectionSource is a DescriptorSource that asks a server through the gRPC
// reflection API: v1 first, v1alpha when the server has only that. The
// descriptors it fetched are kept for the life of the source, so each symbol
// is asked for once.
//
// The reflection stream stays open between calls; Close releases it. Values
// of the context of the first call (outgoing metadata, such as credentials)
// are used by the stream; cancelling a call's context ends that call at once.
// A ReflectionSource is safe for concurrent use; calls are serialized.
type ReflectionSource struct {
	conn    grpc.ClientConnInterface
	target  string
	headers metadata.MD

	mu     sync.Mutex
	client *grpcreflect.Client
	cancel context.CancelFunc
	closed bool
}

// ReflectionOption changes how a ReflectionSource asks.
type ReflectionOption func(*ReflectionSource)

// WithReflectionHeaders sends md as metadata of the reflection stream, for
// servers that authenticate reflection; it is added to the outgoing
// metadata of the first call's context.
func WithReflectionHeaders(md metadata.MD) ReflectionOption {
	return func(s *ReflectionSource) { s.headers = metadata.Join(s.headers, md) }
}

// NewReflectionSource returns a source that asks the server at the other end
// of conn. Nothing is sent until the first call.
func NewReflectionSource(conn grpc.ClientConnInterface, opts ...ReflectionOption) *ReflectionSource {
	s := &ReflectionSource{conn: conn, target: targetOf(conn)}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

// targetOf names the server at the other end of conn for error messages.
func targetOf(conn grpc.ClientConnInterface) string {
	if t, ok := conn.(interface{ Target() string }); ok {
		return t.Target()
	}
	return "the server"
}

// Close ends the reflection stream. The source cannot be used afterwards.
func (s *ReflectionSource) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dropClientLocked()
	s.closed = true
	return nil
}

func (s *ReflectionSource) dropClientLocked() {
	if s.client != nil {
		s.client.Reset()
		s.cancel()
		s.client, s.cancel = nil, nil
	}
}

// do runs fn with the reflection client, ending it early when ctx ends.
func (s *ReflectionSource) do(ctx context.Context, fn func(*grpcreflect.Client) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("reflection at %s: %w", s.target, ErrClosed)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("reflection at %s: %w", s.target, err)
	}
	if s.client == nil {
		// The client keeps one stream for all calls: it must outlive ctx,
		// but keeps its values (outgoing metadata).
		clientCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		if len(s.headers) > 0 {
			md, _ := metadata.FromOutgoingContext(clientCtx)
			clientCtx = metadata.NewOutgoingContext(clientCtx, metadata.Join(md, s.headers))
		}
		s.client = grpcreflect.NewClientAuto(clientCtx, s.conn)
		s.cancel = cancel
	}
	stop := context.AfterFunc(ctx, s.cancel)
	err := fn(s.client)
	if !stop() {
		// ctx ended while fn ran and cancelled the client's stream for good;
		// the next call starts a new client.
		s.dropClientLocked()
		return fmt.Errorf("reflection at %s: %w", s.target, context.Cause(ctx))
	}
	return err
}

// ListServices asks the server for its services, sorted. They include the
// reflection service itself.
func (s *ReflectionSource) ListServices(ctx context.Context) ([]string, error) {
	var services []string
	err := s.do(ctx, func(client *grpcreflect.Client) error {
		var err error
		services, err = client.ListServices()
		return err
	})
	if err != nil {
		return nil, s.wrap("list services", err)
	}
	slices.Sort(services)
	return services, nil
}

// FindSymbol asks the server for the file that declares name and returns
// name's descriptor from it.
func (s *ReflectionSource) FindSymbol(ctx context.Context, name string) (protoreflect.Descriptor, error) {
	name = strings.TrimPrefix(name, ".")
	var found protoreflect.Descriptor
	err := s.do(ctx, func(client *grpcreflect.Client) error {
		file, err := client.FileContainingSymbol(name)
		if err != nil {
			return err
		}
		d := file.FindSymbol(name)
		unwrapper, ok := d.(interface {
			Unwrap() protoreflect.Descriptor
		})
		if !ok {
			return fmt.Errorf("%w: %q in file %s sent by the server", ErrSymbolNotFound, name, file.GetName())
		}
		found = unwrapper.Unwrap()
		return nil
	})
	if err != nil {
		return nil, s.wrap(fmt.Sprintf("find symbol %q", name), err)
	}
	return found, nil
}

// wrap names what failed and where, and maps the reflection client's errors
// to the package's sentinels.
func (s *ReflectionSource) wrap(what string, err error) error {
	switch {
	case errors.Is(err, ErrSymbolNotFound) || errors.Is(err, ErrClosed) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: %w", what, err)
	case grpcreflect.IsElementNotFoundError(err) || status.Code(err) == codes.NotFound:
		return fmt.Errorf("%s: %w at %s (asked through reflection): %w", what, ErrSymbolNotFound, s.target, err)
	case status.Code(err) == codes.Unimplemented:
		return fmt.Errorf("%s: %w at %s (describe it with .proto files or a protoset instead): %w",
			what, ErrReflectionUnsupported, s.target, err)
	default:
		return fmt.Errorf("%s: reflection at %s: %w", what, s.target, err)
	}
}
