package registry_test

import (
	"errors"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

func TestGroup(t *testing.T) {
	records := []*registry.Service{
		{Name: "b", Version: "1", Nodes: []*registry.Node{{ID: "b2"}}},
		{Name: "a", Version: "2", Nodes: []*registry.Node{{ID: "a9"}}},
		{Name: "b", Version: "1", Nodes: []*registry.Node{{ID: "b1"}}},
		{Name: "a", Version: "1", Nodes: []*registry.Node{{ID: "a1"}}},
	}
	have := registry.Group(records)
	want := []struct {
		name, version string
		nodes         []string
	}{{"a", "1", []string{"a1"}}, {"a", "2", []string{"a9"}}, {"b", "1", []string{"b1", "b2"}}}
	if len(have) != len(want) {
		t.Fatalf("want %d records, have %d", len(want), len(have))
	}
	for i, w := range want {
		h := have[i]
		if h.Name != w.name || h.Version != w.version || len(h.Nodes) != len(w.nodes) {
			t.Fatalf("record %d: want %s %s %v, have %s %s with %d nodes", i, w.name, w.version, w.nodes, h.Name, h.Version, len(h.Nodes))
		}
		for j, id := range w.nodes {
			if h.Nodes[j].ID != id {
				t.Errorf("record %d node %d: want %s, have %s", i, j, id, h.Nodes[j].ID)
			}
		}
	}
	// Group copies nodes: changing the result leaves the input alone.
	have[2].Nodes[0].ID = "changed"
	if records[2].Nodes[0].ID != "b1" {
		t.Error("Group must not share nodes with its input")
	}
}

func TestDiff(t *testing.T) {
	now := time.Unix(100, 0)
	node := func(id, addr string) *registry.Node { return &registry.Node{ID: id, Address: addr} }
	before := []*registry.Service{{Name: "s", Version: "1", Nodes: []*registry.Node{node("kept", "a:1"), node("moved", "a:2"), node("gone", "a:3")}}}
	after := []*registry.Service{{Name: "s", Version: "1", Nodes: []*registry.Node{node("kept", "a:1"), node("moved", "a:9"), node("new", "a:4")}}}

	events := registry.Diff(before, after, now)
	want := []struct {
		typ registry.EventType
		id  string
	}{{registry.EventUpdate, "moved"}, {registry.EventCreate, "new"}, {registry.EventDelete, "gone"}}
	if len(events) != len(want) {
		t.Fatalf("want %d events, have %d", len(want), len(events))
	}
	for i, w := range want {
		e := events[i]
		if e.Type != w.typ || e.Service.Nodes[0].ID != w.id || !e.Timestamp.Equal(now) {
			t.Errorf("event %d: want %s %s, have %s %s", i, w.typ, w.id, e.Type, e.Service.Nodes[0].ID)
		}
	}
	if len(registry.Diff(after, after, now)) != 0 {
		t.Error("identical snapshots must give no events")
	}
}

func TestValidate(t *testing.T) {
	for _, svc := range []*registry.Service{
		nil,
		{Name: " "},
		{Name: "x"},
		{Name: "x", Nodes: []*registry.Node{nil}},
		{Name: "x", Nodes: []*registry.Node{{Address: "a:1"}}},
		{Name: "x", Nodes: []*registry.Node{{ID: "1"}}},
	} {
		if err := registry.Validate(svc); !errors.Is(err, registry.ErrInvalid) {
			t.Errorf("Validate(%+v): want ErrInvalid, have %v", svc, err)
		}
	}
	if err := registry.Validate(&registry.Service{Name: "x", Nodes: []*registry.Node{{ID: "1", Address: "a:1"}}}); err != nil {
		t.Errorf("a valid record: %v", err)
	}
}

// TestNodeTags: a change of tags alone is an update, and CloneNode copies
// the tags rather than sharing them.
func TestNodeTags(t *testing.T) {
	before := []*registry.Service{{Name: "s", Nodes: []*registry.Node{{ID: "n", Address: "a:1", Tags: []string{"primary"}}}}}
	after := []*registry.Service{{Name: "s", Nodes: []*registry.Node{{ID: "n", Address: "a:1", Tags: []string{"canary"}}}}}
	events := registry.Diff(before, after, time.Unix(1, 0))
	if len(events) != 1 || events[0].Type != registry.EventUpdate {
		t.Errorf("want one update, have %+v", events)
	}
	clone := registry.CloneNode(before[0].Nodes[0])
	clone.Tags[0] = "changed"
	if before[0].Nodes[0].Tags[0] != "primary" {
		t.Error("CloneNode shares the tags with the original")
	}
}
