package service_test

import (
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	reflectionv1 "google.golang.org/grpc/reflection/grpc_reflection_v1"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/service"
)

// listServices asks the service at address for its services through
// reflection v1 and returns the error of the exchange.
func listServices(t *testing.T, address string) error {
	t.Helper()
	stream, err := reflectionv1.NewServerReflectionClient(dial(t, address)).ServerReflectionInfo(testContext(t))
	if err != nil {
		return err
	}
	// A Send that fails because the server ended the stream returns io.EOF;
	// the stream's status, such as Unimplemented, comes from Recv.
	if err := stream.Send(&reflectionv1.ServerReflectionRequest{MessageRequest: &reflectionv1.ServerReflectionRequest_ListServices{}}); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	_, err = stream.Recv()
	return err
}

func TestReflectionOff(t *testing.T) {
	svc := newService(t, newMemoryRegistry(t), newTestServer(false), service.Reflection(false))
	startService(t, svc)
	if err := listServices(t, svc.Address()); status.Code(err) != codes.Unimplemented {
		t.Errorf("want Unimplemented without reflection, have %v", err)
	}
}

// Each reflection stream is logged at debug level with the peer, and not
// at all above it.
func TestReflectionStreamsLogged(t *testing.T) {
	for _, level := range []slog.Level{slog.LevelDebug, slog.LevelInfo} {
		t.Run(level.String(), func(t *testing.T) {
			var logs testutil.SyncBuffer
			logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: level}))
			svc := newService(t, newMemoryRegistry(t), newTestServer(false), service.Logger(logger))
			startService(t, svc)
			for range 2 {
				if err := listServices(t, svc.Address()); err != nil {
					t.Fatal(err)
				}
			}
			want := 0
			if level == slog.LevelDebug {
				want = 2
			}
			if have := strings.Count(logs.String(), `msg="reflection stream" service=test method=/grpc.reflection.v1.ServerReflection/ServerReflectionInfo peer=127.0.0.1:`); have != want {
				t.Errorf("want %d reflection streams logged, have %d:\n%s", want, have, logs.String())
			}
		})
	}
}
