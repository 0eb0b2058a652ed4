package mcp

import (
	"testing"

	"github.com/microtools/micro/pkg/registry"
)

// Heartbeats (updates that repeat what is known) do not rebuild the tools.
func TestWatchEventsThatChangeTools(t *testing.T) {
	seen := map[string]string{}
	node := func(meta string) *registry.Event {
		return &registry.Event{Type: registry.EventUpdate, Service: &registry.Service{
			Name: "greeter", Version: "1", Nodes: []*registry.Node{{ID: "a", Address: "127.0.0.1:1", Metadata: map[string]string{"fingerprint": meta}}},
		}}
	}
	steps := []struct {
		name string
		ev   *registry.Event
		want bool
	}{
		{"first sight", node("f1"), true},
		{"heartbeat", node("f1"), false},
		{"heartbeat again", node("f1"), false},
		{"new fingerprint", node("f2"), true},
		{"deleted", &registry.Event{Type: registry.EventDelete, Service: node("f2").Service}, true},
		{"back", node("f2"), true},
	}
	for _, step := range steps {
		if have := changes(seen, step.ev); have != step.want {
			t.Errorf("%s: want %v, have %v", step.name, step.want, have)
		}
	}
}
