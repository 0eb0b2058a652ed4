package api

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// slogLine is what slog's own handler writes for rec, the record the
// gateway made before NewAccessLog (finish's slow path).
func slogLine(t *testing.T, json bool, rec *accessRecord) string {
	t.Helper()
	var buf bytes.Buffer
	var h slog.Handler = slog.NewTextHandler(&buf, nil)
	if json {
		h = slog.NewJSONHandler(&buf, nil)
	}
	r := slog.NewRecord(rec.time, rec.level, "request", 0)
	r.AddAttrs(
		slog.String("method", rec.method),
		slog.String("path", rec.path),
		slog.Int("status", rec.status),
		slog.String("protocol", rec.protocol),
		slog.Duration("took", rec.took),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", rec.remote),
	)
	if rec.service != "" {
		r.AddAttrs(slog.String("service", rec.service), slog.String("endpoint", rec.endpoint), slog.String("code", rec.code))
	}
	if rec.err != "" {
		r.AddAttrs(slog.String("error", rec.err))
	}
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.String()
}

// TestAccessLogDirectFormMatchesSlog: the access log's direct form writes
// what slog's text and JSON handlers write, byte for byte, and leaves to
// slog the values it does not write itself.
func TestAccessLogDirectFormMatchesSlog(t *testing.T) {
	var ascii strings.Builder
	for c := 0; c < 0x80; c++ {
		ascii.WriteByte(byte(c))
	}
	base := accessRecord{
		time: time.Date(2026, 12, 1, 13, 52, 30, 998_123_456, time.UTC), level: slog.LevelInfo,
		method: "POST", path: "/greeter/Greeter.Hello", status: 200, protocol: "json",
		took: 1234567 * time.Nanosecond, bytes: 24, remote: "127.0.0.1:51234",
		service: "greeter", endpoint: "Greeter.Hello", code: "OK",
	}
	tests := []struct {
		name   string
		change func(*accessRecord)
		direct bool // the direct form writes it (else slog does)
	}{
		{"call", func(*accessRecord) {}, true},
		{"not a call", func(r *accessRecord) { r.service, r.endpoint, r.code, r.protocol = "", "", "", "http" }, true},
		{"error with spaces and quotes", func(r *accessRecord) {
			r.level, r.status, r.code, r.err = slog.LevelWarn, 503, "Unavailable", `connection refused: dial "127.0.0.1:1" = no`
		}, true},
		{"every ASCII byte", func(r *accessRecord) { r.err, r.path = ascii.String(), "/a b=c\\d\t" }, true},
		{"empty method", func(r *accessRecord) { r.method = "" }, true},
		{"local time, whole second", func(r *accessRecord) { r.time = time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("X", 3600)) }, true},
		{"monotonic clock reading", func(r *accessRecord) { r.time = time.Now() }, true},
		{"zero time", func(r *accessRecord) { r.time = time.Time{} }, true},
		{"long duration", func(r *accessRecord) { r.took = 90 * time.Minute }, true},
		{"not ASCII", func(r *accessRecord) { r.path = "/grüße/Greeter.Hello" }, false},
		{"invalid UTF-8", func(r *accessRecord) { r.err = "bad \xff byte" }, false},
	}
	for _, tt := range tests {
		for _, json := range []bool{false, true} {
			name := tt.name + "/text"
			if json {
				name = tt.name + "/json"
			}
			t.Run(name, func(t *testing.T) {
				rec := base
				tt.change(&rec)
				var out bytes.Buffer
				h := NewAccessLog(&out, json).Handler().(*accessLogHandler)
				done, err := h.logRequest(&rec)
				if err != nil {
					t.Fatal(err)
				}
				if done != tt.direct {
					t.Fatalf("direct form wrote it: %v, want %v", done, tt.direct)
				}
				if !done {
					if out.Len() != 0 {
						t.Fatalf("direct form wrote %q although it left the record to slog", out.String())
					}
					return
				}
				if want, have := slogLine(t, json, &rec), out.String(); have != want {
					t.Errorf("direct form differs from slog's:\nwant %q\nhave %q", want, have)
				}
			})
		}
	}
}

// TestAccessLogOtherRecords: records other than the gateway's requests go
// through slog, also on a derived logger.
func TestAccessLogOtherRecords(t *testing.T) {
	var out bytes.Buffer
	logger := NewAccessLog(&out, false)
	logger.Info("hello", "k", "v w")
	logger.With("a", 1).Warn("derived")
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], `level=INFO msg=hello k="v w"`) || !strings.Contains(lines[1], "level=WARN msg=derived a=1") {
		t.Fatalf("records through slog: %q", out.String())
	}
}
