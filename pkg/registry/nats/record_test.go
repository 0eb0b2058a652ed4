package nats

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

func sampleService() *registry.Service {
	return &registry.Service{
		Name:     "go.micro.srv.greeter",
		Version:  "1.0.0",
		Metadata: map[string]string{"team": "core"},
		Endpoints: []*registry.Endpoint{{
			Name:    "Greeter.Hello",
			Request: &registry.Value{Name: "HelloRequest", Type: "HelloRequest"},
		}},
		Nodes: []*registry.Node{{ID: "greeter-1", Address: "127.0.0.1:50051", Metadata: map[string]string{"zone": "a"}, Health: registry.HealthPassing}},
	}
}

func TestRecordRoundTrip(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	cases := []struct {
		name        string
		opts        []registry.RegisterOption
		wantExpires time.Time
	}{
		{"ttl", []registry.RegisterOption{registry.WithTTL(30 * time.Second)}, now.Add(30 * time.Second)},
		{"default ttl", nil, now.Add(registry.DefaultTTL)},
		{"no expiry", []registry.RegisterOption{registry.NoExpiry()}, time.Time{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc := sampleService()
			rec := newRecord(svc, svc.Nodes[0], now, registry.NewRegisterOptions(c.opts...))
			data, err := encodeRecord(rec)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(data), registry.HealthPassing) {
				t.Errorf("health is not stored: %s", data)
			}
			have, err := decodeEntry(recordKey(svc.Name, "greeter-1"), data)
			if err != nil {
				t.Fatalf("decode %s: %v", data, err)
			}
			if !have.Expires.Equal(c.wantExpires) {
				t.Errorf("want expiry %s, have %s", c.wantExpires, have.Expires)
			}
			if !sameContent(rec, have) {
				t.Errorf("content changed:\nwant %+v\nhave %+v", rec.Service, have.Service)
			}
			if have.liveAt(now.Add(time.Hour)) != c.wantExpires.IsZero() {
				t.Errorf("live an hour later: want %v", c.wantExpires.IsZero())
			}
		})
	}
}

func TestDecodeEntryRejects(t *testing.T) {
	svc := sampleService()
	good, err := encodeRecord(newRecord(svc, svc.Nodes[0], time.Now(), registry.NewRegisterOptions()))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, key, value string
	}{
		{"not json", "s.n", "{"},
		{"null", "s.n", "null"},
		{"no service", "s.n", `{"ttl":"1s","expires":"2026-01-01T00:00:00Z"}`},
		{"two nodes", "s.n", `{"service":{"name":"s","nodes":[{"id":"n","address":"a"},{"id":"m","address":"b"}]}}`},
		{"no address", "s.n", `{"service":{"name":"s","nodes":[{"id":"n"}]}}`},
		{"bad ttl", "s.n", `{"service":{"name":"s","nodes":[{"id":"n","address":"a"}]},"ttl":"soon","expires":"2026-01-01T00:00:00Z"}`},
		{"ttl without expiry", "s.n", `{"service":{"name":"s","nodes":[{"id":"n","address":"a"}]},"ttl":"1s"}`},
		{"expiry without ttl", "s.n", `{"service":{"name":"s","nodes":[{"id":"n","address":"a"}]},"expires":"2026-01-01T00:00:00Z"}`},
		{"wrong key", "other.greeter-1", string(good)},
		{"wrong node", recordKey(svc.Name, "greeter-2"), string(good)},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if rec, err := decodeEntry(c.key, []byte(c.value)); err == nil {
				t.Errorf("want an error, have %+v", rec)
			}
		})
	}
}

func TestSameContentIgnoresExpiry(t *testing.T) {
	svc := sampleService()
	a := newRecord(svc, svc.Nodes[0], time.Now(), registry.NewRegisterOptions())
	b := newRecord(svc, svc.Nodes[0], time.Now().Add(time.Minute), registry.NewRegisterOptions(registry.WithTTL(time.Hour)))
	if !sameContent(a, b) {
		t.Error("a heartbeat should have the same content")
	}
	changed := registry.Clone(svc)
	changed.Nodes[0].Metadata["zone"] = "b"
	c := newRecord(changed, changed.Nodes[0], time.Now(), registry.NewRegisterOptions())
	if sameContent(a, c) {
		t.Error("changed metadata should not have the same content")
	}
}

// FuzzDecodeRecord feeds arbitrary values to the decoder: it must never
// panic, and what it accepts must encode and decode to the same record.
func FuzzDecodeRecord(f *testing.F) {
	svc := sampleService()
	for _, opts := range [][]registry.RegisterOption{nil, {registry.NoExpiry()}, {registry.WithTTL(time.Second)}} {
		data, err := encodeRecord(newRecord(svc, svc.Nodes[0], time.Now(), registry.NewRegisterOptions(opts...)))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, seed := range []string{
		"", "{}", "null", "[]", `{"service":null}`,
		`{"service":{"name":"s","nodes":[{"id":"n","address":"a"}]}}`,
		`{"service":{"name":"s","nodes":[{"id":"n","address":"a"},null]}}`,
		`{"service":{"name":"s","nodes":[null]}}`,
		`{"service":{"name":"s","nodes":[{"id":"n","address":"a"}]},"ttl":"-1s","expires":"2026-01-01T00:00:00Z"}`,
		`{"service":{"name":"s","endpoints":[null],"nodes":[{"id":"n","address":"a"}]},"ttl":"1s","expires":"0001-01-01T00:00:00Z"}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rec, err := decodeRecord(data)
		if err != nil {
			return
		}
		again, err := encodeRecord(rec)
		if err != nil {
			t.Fatalf("accepted %q but cannot encode it: %v", data, err)
		}
		back, err := decodeRecord(again)
		if err != nil {
			t.Fatalf("accepted %q but not its encoding %q: %v", data, again, err)
		}
		if !sameContent(rec, back) || !rec.Expires.Equal(back.Expires) || rec.TTL != back.TTL {
			t.Fatalf("round trip changed the record:\nfirst  %s\nsecond %s", mustJSON(t, rec), mustJSON(t, back))
		}
		// Readers use these; they must not panic on anything accepted.
		_ = rec.live()
		_ = rec.liveAt(time.Now())
	})
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
