package registry

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// Validate reports why svc cannot be registered, or nil.
func Validate(svc *Service) error {
	switch {
	case svc == nil:
		return fmt.Errorf("%w: no service", ErrInvalid)
	case strings.TrimSpace(svc.Name) == "":
		return fmt.Errorf("%w: the service has no name", ErrInvalid)
	case len(svc.Nodes) == 0:
		return fmt.Errorf("%w: service %q has no nodes", ErrInvalid, svc.Name)
	}
	for i, node := range svc.Nodes {
		switch {
		case node == nil:
			return fmt.Errorf("%w: service %q node %d is empty", ErrInvalid, svc.Name, i)
		case node.ID == "":
			return fmt.Errorf("%w: service %q node %d has no id", ErrInvalid, svc.Name, i)
		case node.Address == "":
			return fmt.Errorf("%w: service %q node %q has no address", ErrInvalid, svc.Name, node.ID)
		}
	}
	return nil
}

// Clone returns a deep copy of svc.
func Clone(svc *Service) *Service {
	if svc == nil {
		return nil
	}
	out := &Service{
		Name:     svc.Name,
		Version:  svc.Version,
		Metadata: maps.Clone(svc.Metadata),
	}
	for _, ep := range svc.Endpoints {
		out.Endpoints = append(out.Endpoints, cloneEndpoint(ep))
	}
	out.Nodes = make([]*Node, 0, len(svc.Nodes))
	for _, node := range svc.Nodes {
		out.Nodes = append(out.Nodes, CloneNode(node))
	}
	return out
}

// CloneNode returns a copy of node.
func CloneNode(node *Node) *Node {
	if node == nil {
		return nil
	}
	out := *node
	out.Metadata = maps.Clone(node.Metadata)
	out.Tags = slices.Clone(node.Tags)
	return &out
}

func cloneEndpoint(ep *Endpoint) *Endpoint {
	if ep == nil {
		return nil
	}
	return &Endpoint{
		Name:     ep.Name,
		Request:  cloneValue(ep.Request),
		Response: cloneValue(ep.Response),
		Metadata: maps.Clone(ep.Metadata),
	}
}

func cloneValue(v *Value) *Value {
	if v == nil {
		return nil
	}
	out := &Value{Name: v.Name, Type: v.Type}
	for _, child := range v.Values {
		out.Values = append(out.Values, cloneValue(child))
	}
	return out
}

// WithNode returns a copy of svc whose only node is node.
func WithNode(svc *Service, node *Node) *Service {
	out := Clone(&Service{Name: svc.Name, Version: svc.Version, Metadata: svc.Metadata, Endpoints: svc.Endpoints})
	out.Nodes = []*Node{CloneNode(node)}
	return out
}

// Group merges single-node records into one record per service name and
// version, with nodes sorted by ID and services sorted by name then version.
// Backends that store one record per node (Consul, NATS) use it to build
// GetService and ListServices results.
func Group(records []*Service) []*Service {
	type key struct{ name, version string }
	byKey := map[key]*Service{}
	var order []key
	for _, rec := range records {
		k := key{rec.Name, rec.Version}
		svc, ok := byKey[k]
		if !ok {
			svc = &Service{Name: rec.Name, Version: rec.Version, Metadata: maps.Clone(rec.Metadata), Endpoints: rec.Endpoints}
			byKey[k] = svc
			order = append(order, k)
		}
		if len(svc.Endpoints) == 0 {
			svc.Endpoints = rec.Endpoints
		}
		for _, node := range rec.Nodes {
			svc.Nodes = append(svc.Nodes, CloneNode(node))
		}
	}
	out := make([]*Service, 0, len(order))
	for _, k := range order {
		svc := byKey[k]
		slices.SortFunc(svc.Nodes, func(a, b *Node) int { return strings.Compare(a.ID, b.ID) })
		out = append(out, svc)
	}
	slices.SortFunc(out, func(a, b *Service) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return strings.Compare(a.Version, b.Version)
	})
	return out
}

// Diff compares two snapshots of a registry and returns one event per node
// that appeared, changed or went away, in that order. Backends whose native
// watch reports "something changed" (Consul blocking queries) use it to turn
// snapshots into events.
func Diff(before, after []*Service, now time.Time) []*Event {
	index := func(services []*Service) map[string]nodeEntry {
		m := map[string]nodeEntry{}
		for _, svc := range services {
			for _, node := range svc.Nodes {
				m[svc.Name+"\x00"+node.ID] = nodeEntry{svc, node}
			}
		}
		return m
	}
	old, cur := index(before), index(after)

	var events []*Event
	add := func(typ EventType, e nodeEntry) {
		events = append(events, &Event{Type: typ, Service: WithNode(e.svc, e.node), Timestamp: now})
	}
	for _, k := range sortedKeys(cur) {
		e := cur[k]
		prev, existed := old[k]
		switch {
		case !existed:
			add(EventCreate, e)
		case !sameNode(prev, e):
			add(EventUpdate, e)
		}
	}
	for _, k := range sortedKeys(old) {
		if _, still := cur[k]; !still {
			add(EventDelete, old[k])
		}
	}
	return events
}

// nodeEntry is one node with the service record it belongs to.
type nodeEntry struct {
	svc  *Service
	node *Node
}

func sameNode(a, b nodeEntry) bool {
	return a.svc.Version == b.svc.Version &&
		a.node.Address == b.node.Address &&
		a.node.Health == b.node.Health &&
		maps.Equal(a.node.Metadata, b.node.Metadata) &&
		slices.Equal(a.node.Tags, b.node.Tags) &&
		maps.Equal(a.svc.Metadata, b.svc.Metadata)
}

func sortedKeys[V any](m map[string]V) []string {
	keys := slices.Collect(maps.Keys(m))
	slices.Sort(keys)
	return keys
}
