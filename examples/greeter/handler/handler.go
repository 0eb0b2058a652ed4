package handler

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

var _ greeterpb.GreeterServer = (*Greeter)(nil)

// Limits on what a request may ask for.
const (
	// MaxDelay is the longest delay_ms or interval_ms a request may ask for.
	MaxDelay = time.Minute
	// MaxCount is the most greetings one Stream call may ask for.
	MaxCount = 1000
)

// Greeter serves greeter.v1.Greeter. The zero value is ready to use.
type Greeter struct {
	greeterpb.UnimplementedGreeterServer
}

// New returns a Greeter.
func New() *Greeter { return &Greeter{} }

// EchoHeader is the request metadata key that Hello sends back, as the
// response header of the same name and as the trailer EchoHeader+"-trailer",
// so that gateways and clients can test that metadata goes both ways.
const EchoHeader = "x-echo"

// Hello greets req.Name once, after req.DelayMs when it is set. An empty
// name is InvalidArgument, with a google.rpc.BadRequest detail naming the
// field. An x-echo request header comes back as a header and a trailer.
func (g *Greeter) Hello(ctx context.Context, req *greeterpb.HelloRequest) (*greeterpb.HelloResponse, error) {
	if md, ok := metadata.FromIncomingContext(ctx); ok {
		if v := md.Get(EchoHeader); len(v) > 0 {
			_ = grpc.SetHeader(ctx, metadata.Pairs(EchoHeader, v[0]))
			_ = grpc.SetTrailer(ctx, metadata.Pairs(EchoHeader+"-trailer", v[0]))
		}
	}
	message, err := greet(req)
	if err != nil {
		return nil, err
	}
	if err := wait(ctx, millis(req.GetDelayMs())); err != nil {
		return nil, err
	}
	return &greeterpb.HelloResponse{Message: message}, nil
}

// Stream sends req.Count greetings (1 when it is 0), req.IntervalMs apart,
// numbered from 1.
func (g *Greeter) Stream(req *greeterpb.StreamRequest, stream greeterpb.Greeter_StreamServer) error {
	count := req.GetCount()
	if count == 0 {
		count = 1
	}
	if count < 0 || count > MaxCount {
		return status.Errorf(codes.InvalidArgument, "count must be between 1 and %d, got %d", MaxCount, count)
	}
	if err := checkDelay("interval_ms", req.GetIntervalMs()); err != nil {
		return err
	}
	interval := millis(req.GetIntervalMs())
	message, err := greet(&greeterpb.HelloRequest{Name: req.GetName()})
	if err != nil {
		return err
	}
	for i := range count {
		if i > 0 {
			if err := wait(stream.Context(), interval); err != nil {
				return err
			}
		}
		if err := stream.Send(&greeterpb.HelloResponse{Message: message, Sequence: i + 1}); err != nil {
			return err
		}
	}
	return nil
}

// Collect reads requests until the client closes its side, then greets every
// name it read in one response. No requests at all is a greeting to nobody,
// not an error; an empty name is InvalidArgument.
func (g *Greeter) Collect(stream greeterpb.Greeter_CollectServer) error {
	var names []string
	for {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return err
		}
		if req.GetName() == "" {
			return status.Errorf(codes.InvalidArgument, "request %d: name is required", len(names)+1)
		}
		names = append(names, req.GetName())
	}
	return stream.SendAndClose(&greeterpb.CollectResponse{
		Message: "Hello " + joinNames(names),
		Count:   int32(len(names)),
	})
}

// Chat answers each request as it arrives, numbering the answers from 1,
// until the client closes its side.
func (g *Greeter) Chat(stream greeterpb.Greeter_ChatServer) error {
	for sequence := int32(1); ; sequence++ {
		req, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		message, err := greet(req)
		if err != nil {
			return err
		}
		if err := wait(stream.Context(), millis(req.GetDelayMs())); err != nil {
			return err
		}
		if err := stream.Send(&greeterpb.HelloResponse{Message: message, Sequence: sequence}); err != nil {
			return err
		}
	}
}

// greet builds the greeting for req or says why req is invalid.
func greet(req *greeterpb.HelloRequest) (string, error) {
	if req.GetName() == "" {
		st, err := status.New(codes.InvalidArgument, "name is required").WithDetails(&errdetails.BadRequest{
			FieldViolations: []*errdetails.BadRequest_FieldViolation{{Field: "name", Description: "must not be empty"}},
		})
		if err != nil {
			return "", status.Error(codes.InvalidArgument, "name is required")
		}
		return "", st.Err()
	}
	if err := checkDelay("delay_ms", req.GetDelayMs()); err != nil {
		return "", err
	}
	var b strings.Builder
	switch req.GetMood() {
	case greeterpb.Mood_MOOD_HAPPY:
		fmt.Fprintf(&b, "Hello %s, lovely to see you!", req.GetName())
	case greeterpb.Mood_MOOD_GRUMPY:
		fmt.Fprintf(&b, "Oh. Hello %s.", req.GetName())
	default:
		fmt.Fprintf(&b, "Hello %s", req.GetName())
	}
	if tags := req.GetTags(); len(tags) > 0 {
		fmt.Fprintf(&b, " [%s]", strings.Join(tags, ", "))
	}
	if req.GetSentAt() != nil {
		if err := req.GetSentAt().CheckValid(); err != nil {
			return "", status.Errorf(codes.InvalidArgument, "sent_at: %v", err)
		}
		fmt.Fprintf(&b, " (sent %s)", req.GetSentAt().AsTime().Format(time.RFC3339Nano))
	}
	return b.String(), nil
}

// checkDelay says why a delay of ms milliseconds named field is out of range.
func checkDelay(field string, ms int64) error {
	if ms < 0 || ms > MaxDelay.Milliseconds() {
		return status.Errorf(codes.InvalidArgument, "%s must be between 0 and %d, got %d", field, MaxDelay.Milliseconds(), ms)
	}
	return nil
}

// millis converts a checked delay in milliseconds to a duration.
func millis(ms int64) time.Duration { return time.Duration(ms) * time.Millisecond }

// wait sleeps for d or until ctx ends, whichever is first; a call that ends
// early returns the status of its context.
func wait(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return status.FromContextError(ctx.Err()).Err()
	}
}

func joinNames(names []string) string {
	switch len(names) {
	case 0:
		return "nobody"
	case 1:
		return names[0]
	default:
		return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
	}
}
