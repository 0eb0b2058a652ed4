package handler_test

import (
	"context"
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// newClient serves a Greeter over an in-memory connection and returns a
// client for it; both are closed when the test ends.
func newClient(t *testing.T) greeterpb.GreeterClient {
	t.Helper()
	lis := bufconn.Listen(1 << 20)
	server := grpc.NewServer()
	greeterpb.RegisterGreeterServer(server, handler.New())
	served := make(chan error, 1)
	go func() { served <- server.Serve(lis) }()
	t.Cleanup(func() {
		server.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
	)
	if err != nil {
		t.Fatalf("dial bufconn: %v", err)
	}
	t.Cleanup(func() { conn.Close() })
	return greeterpb.NewGreeterClient(conn)
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestHello(t *testing.T) {
	client := newClient(t)
	sentAt := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

	tests := []struct {
		name string
		req  *greeterpb.HelloRequest
		want string
		code codes.Code
	}{
		{name: "plain", req: &greeterpb.HelloRequest{Name: "Ada"}, want: "Hello Ada"},
		{name: "happy", req: &greeterpb.HelloRequest{Name: "Ada", Mood: greeterpb.Mood_MOOD_HAPPY}, want: "Hello Ada, lovely to see you!"},
		{name: "grumpy", req: &greeterpb.HelloRequest{Name: "Ada", Mood: greeterpb.Mood_MOOD_GRUMPY}, want: "Oh. Hello Ada."},
		{name: "tags", req: &greeterpb.HelloRequest{Name: "Ada", Tags: []string{"a", "b"}}, want: "Hello Ada [a, b]"},
		{name: "sent at", req: &greeterpb.HelloRequest{Name: "Ada", SentAt: timestamppb.New(sentAt)}, want: "Hello Ada (sent 2024-05-06T07:08:09Z)"},
		{name: "short delay", req: &greeterpb.HelloRequest{Name: "Ada", DelayMs: proto.Int64(20)}, want: "Hello Ada"},
		{name: "empty name", req: &greeterpb.HelloRequest{}, code: codes.InvalidArgument},
		{name: "negative delay", req: &greeterpb.HelloRequest{Name: "Ada", DelayMs: proto.Int64(-1)}, code: codes.InvalidArgument},
		{name: "delay too long", req: &greeterpb.HelloRequest{Name: "Ada", DelayMs: proto.Int64(handler.MaxDelay.Milliseconds() + 1)}, code: codes.InvalidArgument},
		{name: "bad timestamp", req: &greeterpb.HelloRequest{Name: "Ada", SentAt: &timestamppb.Timestamp{Nanos: -1}}, code: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.Hello(testContext(t), tt.req)
			if tt.code != codes.OK {
				if have := status.Code(err); have != tt.code {
					t.Fatalf("want code %v, have %v (err %v)", tt.code, have, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Hello: %v", err)
			}
			if have := resp.GetMessage(); have != tt.want {
				t.Errorf("want %q, have %q", tt.want, have)
			}
			if have := resp.GetSequence(); have != 0 {
				t.Errorf("want sequence 0, have %d", have)
			}
		})
	}
}

func TestHelloDelayHonoursDeadline(t *testing.T) {
	client := newClient(t)
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := client.Hello(ctx, &greeterpb.HelloRequest{Name: "Ada", DelayMs: proto.Int64(handler.MaxDelay.Milliseconds())})
	if have := status.Code(err); have != codes.DeadlineExceeded {
		t.Fatalf("want DeadlineExceeded, have %v (err %v)", have, err)
	}
}

func TestStream(t *testing.T) {
	client := newClient(t)
	tests := []struct {
		name      string
		req       *greeterpb.StreamRequest
		wantCount int
		code      codes.Code
	}{
		{name: "default count", req: &greeterpb.StreamRequest{Name: "Ada"}, wantCount: 1},
		{name: "three", req: &greeterpb.StreamRequest{Name: "Ada", Count: 3}, wantCount: 3},
		{name: "with interval", req: &greeterpb.StreamRequest{Name: "Ada", Count: 2, IntervalMs: 10}, wantCount: 2},
		{name: "empty name", req: &greeterpb.StreamRequest{Count: 2}, code: codes.InvalidArgument},
		{name: "negative count", req: &greeterpb.StreamRequest{Name: "Ada", Count: -1}, code: codes.InvalidArgument},
		{name: "count too big", req: &greeterpb.StreamRequest{Name: "Ada", Count: handler.MaxCount + 1}, code: codes.InvalidArgument},
		{name: "negative interval", req: &greeterpb.StreamRequest{Name: "Ada", IntervalMs: -5}, code: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := client.Stream(testContext(t), tt.req)
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			var got []*greeterpb.HelloResponse
			for {
				resp, err := stream.Recv()
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					if have := status.Code(err); have != tt.code {
						t.Fatalf("want code %v, have %v (err %v)", tt.code, have, err)
					}
					return
				}
				got = append(got, resp)
			}
			if tt.code != codes.OK {
				t.Fatalf("want code %v, have a clean end after %d messages", tt.code, len(got))
			}
			if len(got) != tt.wantCount {
				t.Fatalf("want %d messages, have %d", tt.wantCount, len(got))
			}
			for i, resp := range got {
				if resp.GetMessage() != "Hello Ada" || resp.GetSequence() != int32(i+1) {
					t.Errorf("message %d: want {Hello Ada %d}, have {%s %d}", i, i+1, resp.GetMessage(), resp.GetSequence())
				}
			}
		})
	}
}

func TestCollect(t *testing.T) {
	client := newClient(t)
	tests := []struct {
		name      string
		names     []string
		want      string
		wantCount int32
		code      codes.Code
	}{
		{name: "none", want: "Hello nobody"},
		{name: "one", names: []string{"Ada"}, want: "Hello Ada", wantCount: 1},
		{name: "three", names: []string{"Ada", "Grace", "Linus"}, want: "Hello Ada, Grace and Linus", wantCount: 3},
		{name: "empty name", names: []string{"Ada", ""}, code: codes.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stream, err := client.Collect(testContext(t))
			if err != nil {
				t.Fatalf("Collect: %v", err)
			}
			for _, name := range tt.names {
				// A send fails with io.EOF once the server has answered;
				// the status comes from CloseAndRecv.
				if err := stream.Send(&greeterpb.HelloRequest{Name: name}); err != nil && !errors.Is(err, io.EOF) {
					t.Fatalf("Send: %v", err)
				}
			}
			resp, err := stream.CloseAndRecv()
			if tt.code != codes.OK {
				if have := status.Code(err); have != tt.code {
					t.Fatalf("want code %v, have %v (err %v)", tt.code, have, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("CloseAndRecv: %v", err)
			}
			if resp.GetMessage() != tt.want || resp.GetCount() != tt.wantCount {
				t.Errorf("want {%q %d}, have {%q %d}", tt.want, tt.wantCount, resp.GetMessage(), resp.GetCount())
			}
		})
	}
}

func TestChat(t *testing.T) {
	client := newClient(t)
	stream, err := client.Chat(testContext(t))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	// Each answer arrives before the next request is sent: the server
	// answers as requests arrive rather than at the end.
	for i, name := range []string{"Ada", "Grace", "Linus"} {
		if err := stream.Send(&greeterpb.HelloRequest{Name: name}); err != nil {
			t.Fatalf("Send %s: %v", name, err)
		}
		resp, err := stream.Recv()
		if err != nil {
			t.Fatalf("Recv after %s: %v", name, err)
		}
		if want := "Hello " + name; resp.GetMessage() != want || resp.GetSequence() != int32(i+1) {
			t.Errorf("want {%q %d}, have {%q %d}", want, i+1, resp.GetMessage(), resp.GetSequence())
		}
	}
	if err := stream.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if _, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("want io.EOF after CloseSend, have %v", err)
	}
}

func TestChatRejectsEmptyName(t *testing.T) {
	client := newClient(t)
	stream, err := client.Chat(testContext(t))
	if err != nil {
		t.Fatalf("Chat: %v", err)
	}
	if err := stream.Send(&greeterpb.HelloRequest{}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	_, err = stream.Recv()
	if have := status.Code(err); have != codes.InvalidArgument {
		t.Fatalf("want InvalidArgument, have %v (err %v)", have, err)
	}
}
