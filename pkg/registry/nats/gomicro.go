package nats

import (
	"context"
	"encoding/json"
	"maps"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/pkg/registry"
)

// Subjects of go-micro's NATS registry. go-micro services that use NATS as
// their registry keep their records in memory: a client asks on
// QuerySubject with a reply inbox and every service answers with its own
// record, one JSON service record per reply; changes are announced on
// WatchSubject.
const (
	QuerySubject = "micro.nats.query"
	WatchSubject = "micro.nats.watch"
)

// DefaultQueryTimeout is how long a list or get waits for the answers of
// go-micro services (go-micro's own default is 100ms).
const DefaultQueryTimeout = 100 * time.Millisecond

// ownHeader marks the announcements a Registry publishes on WatchSubject
// and its answers to queries, so that other Registries, which see those
// records in the bucket already, skip them without decoding them. go-micro
// ignores headers.
const ownHeader = "Micro-Registry"

// goMicroResult is go-micro's registry.Result as its NATS registry sends
// it: Go field names, no JSON tags ({"Service": {...}, "Action": "list"}).
// Decoding ignores case, so {"action": "list"} reads the same.
type goMicroResult struct {
	Service *registry.Service
	Action  string
}

// goMicro is the part of a Registry that speaks go-micro's NATS registry.
type goMicro struct {
	read    bool          // ask go-micro services in ListServices and GetService, watch their announcements
	answer  bool          // answer go-micro queries for what Register registered
	timeout time.Duration // of a query

	mu   sync.Mutex
	sub  *natsgo.Subscription
	own  map[string]map[string]ownNode // name -> node ID -> record with that node
	sent map[string]*registry.Service  // name + node ID -> last announced
}

// ownNode is a node registered here, for answering queries until it
// expires.
type ownNode struct {
	svc     *registry.Service // with just that node
	expires time.Time         // zero: never
}

// remember keeps the nodes of svc for answering queries, starts answering
// if it has not yet, and announces new or changed nodes on WatchSubject.
func (r *Registry) remember(svc *registry.Service, o registry.RegisterOptions) error {
	g := &r.gomicro
	if !g.answer {
		return nil
	}
	g.mu.Lock()
	if g.own == nil {
		g.own, g.sent = map[string]map[string]ownNode{}, map[string]*registry.Service{}
	}
	if g.sub == nil {
		sub, err := r.nc.Subscribe(QuerySubject, r.answerQuery)
		if err != nil {
			g.mu.Unlock()
			return r.opError("answer go-micro registry queries on "+QuerySubject, err)
		}
		g.sub = sub
	}
	var announce []*registry.Service
	var expires time.Time
	if !o.NoExpiry {
		expires = time.Now().Add(o.TTL)
	}
	for _, node := range svc.Nodes {
		one := registry.WithNode(svc, node)
		one.Nodes[0].Health = ""
		if g.own[svc.Name] == nil {
			g.own[svc.Name] = map[string]ownNode{}
		}
		g.own[svc.Name][node.ID] = ownNode{svc: one, expires: expires}
		key := svc.Name + "\x00" + node.ID
		if prev := g.sent[key]; prev == nil || !sameRecord(prev, one) {
			g.sent[key] = one
			announce = append(announce, one)
		}
	}
	g.mu.Unlock()
	for _, one := range announce {
		r.announce("create", one)
	}
	return nil
}

// forget stops answering for the nodes of svc and announces their removal.
func (r *Registry) forget(svc *registry.Service) {
	g := &r.gomicro
	if !g.answer {
		return
	}
	g.mu.Lock()
	var gone []*registry.Service
	for _, node := range svc.Nodes {
		if one, ok := g.own[svc.Name][node.ID]; ok {
			gone = append(gone, one.svc)
			delete(g.own[svc.Name], node.ID)
			delete(g.sent, svc.Name+"\x00"+node.ID)
		}
	}
	if len(g.own[svc.Name]) == 0 {
		delete(g.own, svc.Name)
	}
	g.mu.Unlock()
	for _, one := range gone {
		r.announce("delete", one)
	}
}

func sameRecord(a, b *registry.Service) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}

// announce publishes a change on WatchSubject as go-micro does.
func (r *Registry) announce(action string, svc *registry.Service) {
	data, err := json.Marshal(goMicroResult{Service: svc, Action: action})
	if err != nil {
		return
	}
	msg := natsgo.NewMsg(WatchSubject)
	msg.Header.Set(ownHeader, "kv")
	msg.Data = data
	_ = r.nc.PublishMsg(msg)
}

// answerQuery answers one go-micro registry query: every service version
// registered here for "list", the one asked for for "get".
func (r *Registry) answerQuery(m *natsgo.Msg) {
	if m.Reply == "" {
		return
	}
	var q goMicroResult
	if err := json.Unmarshal(m.Data, &q); err != nil {
		return
	}
	g := &r.gomicro
	g.mu.Lock()
	var records []*registry.Service
	now := time.Now()
	for name, nodes := range g.own {
		switch q.Action {
		case "list":
		case "get":
			if q.Service == nil || q.Service.Name != name {
				continue
			}
		default:
			continue
		}
		for id, one := range nodes {
			if !one.expires.IsZero() && now.After(one.expires) {
				delete(nodes, id) // not refreshed: gone, as from the bucket
				delete(g.sent, name+"\x00"+id)
				continue
			}
			records = append(records, one.svc)
		}
	}
	g.mu.Unlock()
	for _, svc := range registry.Group(records) {
		data, err := json.Marshal(svc)
		if err != nil {
			continue
		}
		reply := natsgo.NewMsg(m.Reply)
		reply.Header.Set(ownHeader, "kv")
		reply.Data = data
		_ = r.nc.PublishMsg(reply)
	}
}

// goMicroQuery is the body of a query on QuerySubject: go-micro's
// registry.Result with action "list", or "get" and the service's name.
// It is written by hand: encoding/json would build its encoders for the
// whole service record type first, a cost every command would pay.
func goMicroQuery(name string) []byte {
	if name == "" {
		return []byte(`{"Action":"list"}`)
	}
	quoted, _ := json.Marshal(name) // a string always encodes
	return append(append([]byte(`{"Action":"get","Service":{"name":`), quoted...), "}}"...)
}

// stopAnswering ends the query subscription.
func (r *Registry) stopAnswering() {
	g := &r.gomicro
	g.mu.Lock()
	sub := g.sub
	g.sub = nil
	g.mu.Unlock()
	if sub != nil {
		_ = sub.Unsubscribe()
	}
}

// queryGoMicro asks go-micro services for their records: name "" lists
// every service. It sends the query at once, so that it leaves with the
// caller's next request (the bucket read), and returns collect, which
// gathers answers until the query timeout, or until enough is done: the
// server says nobody listens (no responders), or ctx ends, or early (when
// it is closed: the caller has what it needs). It never fails the
// caller's list or get: a query that cannot be sent finds nothing.
func (r *Registry) queryGoMicro(ctx context.Context, name string) (collect func(early <-chan struct{}) []*registry.Service) {
	nothing := func(<-chan struct{}) []*registry.Service { return nil }
	g := &r.gomicro
	if !g.read || r.nc.Status() != natsgo.CONNECTED {
		return nothing
	}
	inbox := r.nc.NewRespInbox()
	replies := make(chan *natsgo.Msg, 64)
	sub, err := r.nc.ChanSubscribe(inbox, replies)
	if err != nil {
		return nothing
	}
	if err := r.nc.PublishRequest(QuerySubject, inbox, goMicroQuery(name)); err != nil {
		_ = sub.Unsubscribe()
		return nothing
	}
	return func(early <-chan struct{}) []*registry.Service {
		defer func() { _ = sub.Unsubscribe() }()
		return r.collectGoMicro(ctx, name, replies, early)
	}
}

// collectGoMicro gathers the answers of a query (see queryGoMicro).
func (r *Registry) collectGoMicro(ctx context.Context, name string, replies <-chan *natsgo.Msg, early <-chan struct{}) []*registry.Service {
	g := &r.gomicro
	timer := time.NewTimer(g.timeout)
	defer timer.Stop()
	var out []*registry.Service
	collect := func(m *natsgo.Msg) bool {
		if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
			return false // no responders
		}
		if m.Header.Get(ownHeader) != "" {
			return true // a Registry's answer: its records are in the bucket
		}
		var svc registry.Service
		if err := json.Unmarshal(m.Data, &svc); err != nil || svc.Name == "" {
			return true
		}
		if name != "" && svc.Name != name {
			return true
		}
		var nodes []*registry.Node
		for _, node := range svc.Nodes {
			if node != nil && node.ID != "" && node.Address != "" {
				node.Health = registry.HealthPassing
				nodes = append(nodes, node)
			}
		}
		if len(nodes) == 0 {
			return true
		}
		svc.Nodes = nodes
		out = append(out, &svc)
		return true
	}
	for {
		select {
		case m := <-replies:
			if !collect(m) {
				return out
			}
		case <-early:
			// Take what has arrived already.
			for {
				select {
				case m := <-replies:
					collect(m)
				default:
					return out
				}
			}
		case <-timer.C:
			return out
		case <-ctx.Done():
			return out
		}
	}
}

// mergeGoMicro adds the go-micro records to the bucket's, skipping nodes
// the bucket has already (services built on micro answer queries too).
func mergeGoMicro(records, gomicro []*registry.Service) []*registry.Service {
	if len(gomicro) == 0 {
		return records
	}
	seen := map[string]bool{}
	for _, svc := range records {
		for _, node := range svc.Nodes {
			seen[svc.Name+"\x00"+node.ID] = true
		}
	}
	out := append([]*registry.Service(nil), records...)
	for _, svc := range gomicro {
		for _, node := range svc.Nodes {
			key := svc.Name + "\x00" + node.ID
			if seen[key] {
				continue
			}
			seen[key] = true
			out = append(out, registry.WithNode(svc, node))
		}
	}
	return out
}

// goMicroEvents turns an announcement on WatchSubject into events, one per
// node; nil for announcements of a Registry (ours are in the bucket) and
// for what cannot be read.
func goMicroEvents(m *natsgo.Msg, service string, now time.Time) []*registry.Event {
	if m.Header.Get(ownHeader) != "" {
		return nil
	}
	var result goMicroResult
	if err := json.Unmarshal(m.Data, &result); err != nil || result.Service == nil || result.Service.Name == "" {
		return nil
	}
	if service != "" && result.Service.Name != service {
		return nil
	}
	var typ registry.EventType
	switch strings.ToLower(result.Action) {
	case "create":
		typ = registry.EventCreate
	case "update":
		typ = registry.EventUpdate
	case "delete":
		typ = registry.EventDelete
	default:
		return nil
	}
	var events []*registry.Event
	for _, node := range result.Service.Nodes {
		if node == nil || node.ID == "" {
			continue
		}
		one := registry.WithNode(result.Service, node)
		if typ != registry.EventDelete {
			one.Nodes[0].Health = registry.HealthPassing
		}
		one.Nodes[0].Metadata = maps.Clone(one.Nodes[0].Metadata)
		events = append(events, &registry.Event{Type: typ, Service: one, Timestamp: now})
	}
	return events
}
