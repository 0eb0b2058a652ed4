package nats

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

// record is the value stored for one node.
type record struct {
	// Service is the service record with exactly one node, Health unset.
	Service *registry.Service `json:"service"`
	// TTL is how long the record lives without another Register, as a Go
	// duration ("30s"). Empty for a record that does not expire.
	TTL string `json:"ttl,omitempty"`
	// Registered is when Register last wrote the record.
	Registered time.Time `json:"registered"`
	// Expires is Registered + TTL; zero for a record that does not expire.
	Expires time.Time `json:"expires,omitzero"`
}

// newRecord builds the record of one node of svc registered at now.
func newRecord(svc *registry.Service, node *registry.Node, now time.Time, o registry.RegisterOptions) *record {
	one := registry.WithNode(svc, node)
	one.Nodes[0].Health = ""
	rec := &record{Service: one, Registered: now.UTC()}
	if !o.NoExpiry {
		rec.TTL = o.TTL.String()
		rec.Expires = rec.Registered.Add(o.TTL)
	}
	return rec
}

func encodeRecord(rec *record) ([]byte, error) {
	return json.Marshal(rec)
}

// decodeRecord parses and checks a stored value.
func decodeRecord(data []byte) (*record, error) {
	var rec record
	if err := json.Unmarshal(data, &rec); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if err := registry.Validate(rec.Service); err != nil {
		return nil, fmt.Errorf("decode record: %w", err)
	}
	if n := len(rec.Service.Nodes); n != 1 {
		return nil, fmt.Errorf("decode record: service %q has %d nodes, want 1", rec.Service.Name, n)
	}
	switch {
	case rec.TTL == "" && !rec.Expires.IsZero():
		return nil, fmt.Errorf("decode record: service %q node %q expires but has no ttl", rec.Service.Name, rec.Service.Nodes[0].ID)
	case rec.TTL != "":
		ttl, err := time.ParseDuration(rec.TTL)
		if err != nil {
			return nil, fmt.Errorf("decode record: service %q node %q: ttl: %w", rec.Service.Name, rec.Service.Nodes[0].ID, err)
		}
		if ttl <= 0 || rec.Expires.IsZero() {
			return nil, fmt.Errorf("decode record: service %q node %q: ttl %s without a positive expiry", rec.Service.Name, rec.Service.Nodes[0].ID, rec.TTL)
		}
	}
	rec.Service.Nodes[0].Health = ""
	return &rec, nil
}

// decodeEntry decodes the value stored under key and checks that it belongs
// there.
func decodeEntry(key string, data []byte) (*record, error) {
	rec, err := decodeRecord(data)
	if err != nil {
		return nil, err
	}
	service, nodeID, err := parseKey(key)
	if err != nil {
		return nil, err
	}
	if rec.Service.Name != service || rec.Service.Nodes[0].ID != nodeID {
		return nil, fmt.Errorf("record of %q node %q stored under key %q", rec.Service.Name, rec.Service.Nodes[0].ID, key)
	}
	return rec, nil
}

// liveAt reports whether the record has not expired at now.
func (r *record) liveAt(now time.Time) bool {
	return r.Expires.IsZero() || now.Before(r.Expires)
}

// live returns the record's service with Health set to passing, for readers.
func (r *record) live() *registry.Service {
	svc := registry.Clone(r.Service)
	svc.Nodes[0].Health = registry.HealthPassing
	return svc
}

// sameContent reports whether a and b describe the same node in the same way,
// whatever their expiry: a heartbeat rewrites a record with the same content.
func sameContent(a, b *record) bool {
	ja, errA := json.Marshal(a.Service)
	jb, errB := json.Marshal(b.Service)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}
