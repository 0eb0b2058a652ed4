package mucp

import (
	"bytes"
	"compress/zlib"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"sort"
	"strconv"
	"time"

	consul "github.com/hashicorp/consul/api"
	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/pkg/registry"
)

// goMicroTag is go-micro's tag encoding: prefix + hex of zlib of data.
func goMicroTag(prefix string, data []byte) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	_, _ = w.Write(data)
	_ = w.Close()
	return prefix + hex.EncodeToString(b.Bytes())
}

// consulTags are the tags go-micro's Consul registry writes for a node:
// one "t-" tag per metadata key, one "e-" tag per endpoint, one "v-" tag of
// the version.
func consulTags(svc *registry.Service, node *registry.Node) []string {
	var tags []string
	keys := make([]string, 0, len(node.Metadata))
	for k := range node.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		data, _ := json.Marshal(map[string]string{k: node.Metadata[k]})
		tags = append(tags, goMicroTag("t-", data))
	}
	for _, ep := range svc.Endpoints {
		data, _ := json.Marshal(ep)
		tags = append(tags, goMicroTag("e-", data))
	}
	return append(tags, goMicroTag("v-", []byte(svc.Version)))
}

// RegisterConsul registers the node in the Consul agent at address the
// way go-micro's Consul registry does (ID, name, address and port, the
// tags above, node metadata as Meta, a TTL check) and keeps its check
// passing until ctx ends, then deregisters it. It returns once the node is
// registered.
func (s *Server) RegisterConsul(ctx context.Context, address string, ttl time.Duration) error {
	client, err := consul.NewClient(&consul.Config{Address: address})
	if err != nil {
		return fmt.Errorf("mucp fixture: consul at %s: %w", address, err)
	}
	svc := s.Record()
	node := svc.Nodes[0]
	host, portText, _ := net.SplitHostPort(node.Address)
	port, _ := strconv.Atoi(portText)
	meta := map[string]string{}
	for k, v := range node.Metadata {
		meta[k] = v
	}
	meta["registry"] = "consul"
	node.Metadata = meta
	reg := &consul.AgentServiceRegistration{
		ID:      node.ID,
		Name:    svc.Name,
		Tags:    consulTags(svc, node),
		Port:    port,
		Address: host,
		Meta:    meta,
		Check: &consul.AgentServiceCheck{
			TTL:                            ttl.String(),
			DeregisterCriticalServiceAfter: "1m",
		},
	}
	agent := client.Agent()
	if err := agent.ServiceRegister(reg); err != nil {
		return fmt.Errorf("mucp fixture: register %s in consul at %s: %w", node.ID, address, err)
	}
	if err := agent.PassTTL("service:"+node.ID, ""); err != nil {
		return fmt.Errorf("mucp fixture: pass check of %s: %w", node.ID, err)
	}
	go func() {
		tick := time.NewTicker(ttl / 3)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				_ = agent.ServiceDeregister(node.ID)
				return
			case <-tick.C:
				_ = agent.PassTTL("service:"+node.ID, "")
			}
		}
	}()
	return nil
}

// Subjects of go-micro's NATS registry.
const (
	QuerySubject = "micro.nats.query"
	WatchSubject = "micro.nats.watch"
)

// natsResult is go-micro's registry.Result as its NATS registry sends it:
// the Go field names, no JSON tags.
type natsResult struct {
	Service *registry.Service
	Action  string
}

// ServeNATSRegistry makes the node findable through go-micro's NATS
// registry on nc: it answers queries on micro.nats.query ({"Action":
// "list"} and {"Action": "get", "Service": {"name": ...}}, one JSON
// service record per reply) and announces itself on micro.nats.watch
// ("create" now, "delete" when ctx ends).
func (s *Server) ServeNATSRegistry(ctx context.Context, nc *natsgo.Conn) error {
	svc := s.Record()
	svc.Nodes[0].Metadata["registry"] = "nats"
	record, _ := json.Marshal(svc)
	sub, err := nc.Subscribe(QuerySubject, func(m *natsgo.Msg) {
		var q natsResult
		if err := json.Unmarshal(m.Data, &q); err != nil || m.Reply == "" {
			return
		}
		switch q.Action {
		case "list":
		case "get":
			if q.Service == nil || q.Service.Name != svc.Name {
				return
			}
		default:
			return
		}
		_ = nc.Publish(m.Reply, record)
	})
	if err != nil {
		return fmt.Errorf("mucp fixture: subscribe %s: %w", QuerySubject, err)
	}
	announce := func(action string) {
		data, _ := json.Marshal(natsResult{Service: svc, Action: action})
		_ = nc.Publish(WatchSubject, data)
		_ = nc.Flush()
	}
	if err := nc.Flush(); err != nil {
		return fmt.Errorf("mucp fixture: nats: %w", err)
	}
	announce("create")
	go func() {
		<-ctx.Done()
		_ = sub.Unsubscribe()
		announce("delete")
	}()
	return nil
}
