package handler_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

func TestGreeted(t *testing.T) {
	at := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name    string
		event   *greeterpb.Greeted
		wantLog string
		wantErr bool
	}{
		{"name", &greeterpb.Greeted{Name: "Ada"}, `msg="handled event" topic=greeter.greeted name=Ada`, false},
		{"name and time", &greeterpb.Greeted{Name: "Ada", At: timestamppb.New(at)}, `name=Ada at=2025-01-02T03:04:05Z`, false},
		{"no name", &greeterpb.Greeted{}, "", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs bytes.Buffer
			events := handler.NewEvents(slog.New(slog.NewTextHandler(&logs, nil)))
			err := events.Greeted(t.Context(), c.event)
			if (err != nil) != c.wantErr {
				t.Fatalf("want error %v, have %v", c.wantErr, err)
			}
			if !strings.Contains(logs.String(), c.wantLog) {
				t.Errorf("want %q in the log, have %q", c.wantLog, logs.String())
			}
		})
	}
}
