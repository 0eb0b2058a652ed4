// Package transporttest is the contract every transport.Transport passes,
// run against a server of the transport's kind that serves a greeter:
// Greeter.Hello answers {"name": N} with "Hello N" (or "<X-Greeting
// header> N"), and fails with InvalidArgument for an empty name.
package transporttest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/transport"
)

// Harness is what the suite needs from the caller.
type Harness struct {
	// Transport is the transport under test.
	Transport transport.Transport
	// Address is a node serving the greeter.
	Address string
	// Request returns a Greeter.Hello request for name, encoded for the
	// transport (Service, Endpoint, Method, ContentType and Body set).
	Request func(name string) *transport.Request
	// Message decodes the message of a Greeter.Hello response.
	Message func(body []byte) (string, error)
	// Streams says whether the transport has streams; when it has, Stream
	// returns a server-streaming request that greets name count times.
	Streams bool
	Stream  func(name string, count int) *transport.Request
}

// Run runs the contract. setup is called once per subtest.
func Run(t *testing.T, setup func(t *testing.T) Harness) {
	t.Run("Name", func(t *testing.T) {
		h := setup(t)
		if h.Transport.Name() == "" {
			t.Fatal("Name() is empty")
		}
	})
	t.Run("Unary", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		resp, err := conn.Call(ctx(t), h.Request("Ada"))
		if err != nil {
			t.Fatalf("Call: %v", err)
		}
		msg, err := h.Message(resp.Body)
		if err != nil {
			t.Fatalf("decode response %q: %v", resp.Body, err)
		}
		if want := "Hello Ada"; msg != want {
			t.Fatalf("message: want %q, have %q", want, msg)
		}
		if conn.Address() != h.Address {
			t.Fatalf("Address: want %q, have %q", h.Address, conn.Address())
		}
	})
	t.Run("Metadata", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		req := h.Request("Ada")
		req.Metadata = transport.Metadata{"x-greeting": {"Howdy"}}
		resp, err := conn.Call(ctx(t), req)
		if err != nil {
			t.Fatalf("Call: %v", err)
		}
		msg, _ := h.Message(resp.Body)
		if want := "Howdy Ada"; msg != want {
			t.Fatalf("the server did not see the metadata: want %q, have %q", want, msg)
		}
	})
	t.Run("ServerError", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		_, err := conn.Call(ctx(t), h.Request(""))
		var te *transport.Error
		if !errors.As(err, &te) {
			t.Fatalf("want a *transport.Error, have %T: %v", err, err)
		}
		if status.Code(err) != codes.InvalidArgument {
			t.Fatalf("code: want InvalidArgument, have %s (%v)", status.Code(err), err)
		}
		if te.Detail == "" || te.Address != h.Address {
			t.Fatalf("the error should carry the detail and the address: %+v", te)
		}
	})
	t.Run("UnknownMethod", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		req := h.Request("Ada")
		req.Endpoint, req.Method = "Greeter.Nope", ""
		if m := h.Request("Ada").Method; m != "" {
			req.Method = m[:len(m)-len("Hello")] + "Nope"
		}
		_, err := conn.Call(ctx(t), req)
		if status.Code(err) != codes.Unimplemented {
			t.Fatalf("code: want Unimplemented, have %s (%v)", status.Code(err), err)
		}
	})
	t.Run("Unreachable", func(t *testing.T) {
		h := setup(t)
		address := closedPort(t)
		conn, err := h.Transport.Dial(ctx(t), address)
		if err == nil {
			defer func() { _ = conn.Close() }()
			_, err = conn.Call(ctx(t), h.Request("Ada"))
		}
		var ce *transport.ConnectError
		if !errors.As(err, &ce) {
			t.Fatalf("want a *transport.ConnectError, have %T: %v", err, err)
		}
		if ce.Address != address {
			t.Fatalf("address: want %q, have %q", address, ce.Address)
		}
	})
	t.Run("Cancelled", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		c, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := conn.Call(c, h.Request("Ada")); err == nil {
			t.Fatal("a call with a cancelled context succeeded")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for i := range 32 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				name := fmt.Sprintf("n%d", i)
				resp, err := conn.Call(ctx(t), h.Request(name))
				if err != nil {
					errs <- err
					return
				}
				if msg, _ := h.Message(resp.Body); msg != "Hello "+name {
					errs <- fmt.Errorf("call %d: want %q, have %q", i, "Hello "+name, msg)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	t.Run("Streams", func(t *testing.T) {
		h := setup(t)
		conn := dial(t, h)
		if !h.Streams {
			_, err := conn.NewStream(ctx(t), transport.StreamDesc{ServerStreams: true}, h.Request("Ada"))
			if !errors.Is(err, transport.ErrStreamsUnsupported) {
				t.Fatalf("want ErrStreamsUnsupported, have %v", err)
			}
			return
		}
		req := h.Stream("Ada", 3)
		stream, err := conn.NewStream(ctx(t), transport.StreamDesc{ServerStreams: true}, req)
		if err != nil {
			t.Fatalf("NewStream: %v", err)
		}
		if err := stream.Send(req.Body); err != nil {
			t.Fatalf("Send: %v", err)
		}
		if err := stream.CloseSend(); err != nil {
			t.Fatalf("CloseSend: %v", err)
		}
		var got int
		for {
			body, err := stream.Recv()
			if err != nil {
				if got != 3 {
					t.Fatalf("want 3 responses, have %d, then %v", got, err)
				}
				break
			}
			if msg, _ := h.Message(body); msg != "Hello Ada" {
				t.Fatalf("response %d: %q", got, msg)
			}
			got++
		}
	})
}

func dial(t *testing.T, h Harness) transport.Conn {
	t.Helper()
	conn, err := h.Transport.Dial(ctx(t), h.Address)
	if err != nil {
		t.Fatalf("Dial %s: %v", h.Address, err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

// closedPort returns an address on 127.0.0.1 where nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	address := l.Addr().String()
	_ = l.Close()
	return address
}
