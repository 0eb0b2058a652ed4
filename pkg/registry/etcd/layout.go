package etcd

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/microtools/micro/pkg/registry"
)

// MetadataLayout is the node metadata key that says which layout a node was
// read from: micro, gomicro, kratos or gozero. It is set on every node read
// and never stored.
const MetadataLayout = "registry-layout"

// MetadataKratosEndpoints holds a kratos instance's endpoints as it
// registered them, comma-separated.
const MetadataKratosEndpoints = "kratos-endpoints"

// RecordError is a record that was skipped because it cannot be read. It is
// what the OnError function gets.
type RecordError struct {
	// Key is the etcd key of the record.
	Key string
	// Layout is the layout the key belongs to.
	Layout Layout
	// Err says what is wrong with it.
	Err error
}

func (e *RecordError) Error() string {
	return fmt.Sprintf("etcd registry: skipped the %s record at key %q: %v", e.Layout, e.Key, e.Err)
}

func (e *RecordError) Unwrap() error { return e.Err }

// errNotAddress marks a value that is not host:port, so a key outside the
// known prefixes is simply not go-zero's.
var errNotAddress = errors.New("the value is not a host:port address")

// decoder turns etcd keys and values into single-node records, for the
// layouts it was told to read.
type decoder struct {
	prefix     string
	layouts    []Layout
	goZeroKeys []string
}

func (d *decoder) reads(l Layout) bool { return slices.Contains(d.layouts, l) }

// layoutOf says which layout key belongs to; ok is false for a key no read
// layout claims. A key under a JSON layout's prefix belongs to it even when
// that layout is not read, so it never passes as go-zero's.
func (d *decoder) layoutOf(key string) (Layout, bool) {
	switch {
	case strings.HasPrefix(key, d.prefix):
		return LayoutMicro, d.reads(LayoutMicro)
	case strings.HasPrefix(key, GoMicroPrefix):
		return LayoutGoMicro, d.reads(LayoutGoMicro)
	case strings.HasPrefix(key, KratosPrefix):
		return LayoutKratos, d.reads(LayoutKratos)
	case d.reads(LayoutGoZero):
		return LayoutGoZero, true
	}
	return "", false
}

// decode returns the single-node records a key holds. A key that no layout
// read claims gives nothing and no error; a key that one claims but cannot
// be read gives a *RecordError.
func (d *decoder) decode(key string, value []byte) ([]*registry.Service, error) {
	layout, ok := d.layoutOf(key)
	if !ok {
		return nil, nil
	}
	var (
		records []*registry.Service
		err     error
	)
	switch layout {
	case LayoutMicro:
		records, err = decodeMicro(value)
	case LayoutGoMicro:
		records, err = decodeGoMicro(value)
	case LayoutKratos:
		records, err = decodeKratos(key, value)
	case LayoutGoZero:
		records, err = d.decodeGoZero(key, value)
		if errors.Is(err, errNotAddress) && len(d.goZeroKeys) == 0 {
			return nil, nil // some other program's key
		}
	}
	if err != nil {
		return nil, &RecordError{Key: key, Layout: layout, Err: err}
	}
	for _, rec := range records {
		for _, n := range rec.Nodes {
			if n.Metadata == nil {
				n.Metadata = map[string]string{}
			}
			n.Metadata[MetadataLayout] = string(layout)
			n.Health = registry.HealthPassing
		}
	}
	return records, nil
}

// decodeMicro reads micro's record: the JSON single-node service record.
func decodeMicro(value []byte) ([]*registry.Service, error) {
	var svc registry.Service
	if err := json.Unmarshal(value, &svc); err != nil {
		return nil, fmt.Errorf("not a JSON service record: %w", err)
	}
	if err := registry.Validate(&svc); err != nil {
		return nil, err
	}
	return splitNodes(&svc), nil
}

// goMicroService is go-micro's registry.Service as its etcd registry writes
// it. The fields match micro's own record, so the JSON is read the same way;
// the type documents the shape.
type goMicroService = registry.Service

// decodeGoMicro reads go-micro's record: a JSON service with (usually) one
// node.
func decodeGoMicro(value []byte) ([]*registry.Service, error) {
	var svc goMicroService
	if err := json.Unmarshal(value, &svc); err != nil {
		return nil, fmt.Errorf("not a go-micro JSON service record: %w", err)
	}
	if err := registry.Validate(&svc); err != nil {
		return nil, err
	}
	return splitNodes(&svc), nil
}

// kratosInstance is kratos' registry.ServiceInstance as its etcd registry
// writes it.
type kratosInstance struct {
	ID        string            `json:"id"`
	Name      string            `json:"name"`
	Version   string            `json:"version"`
	Metadata  map[string]string `json:"metadata"`
	Endpoints []string          `json:"endpoints"`
}

// decodeKratos reads a kratos instance. The node address is its grpc://
// endpoint; an instance with only http:// endpoints is a node with the
// http address and protocol "http" (kratos' REST, neither gRPC nor
// go-micro's mucp), listed but not one a gRPC caller should pick.
func decodeKratos(key string, value []byte) ([]*registry.Service, error) {
	var inst kratosInstance
	if err := json.Unmarshal(value, &inst); err != nil {
		return nil, fmt.Errorf("not a kratos JSON instance: %w", err)
	}
	if inst.Name == "" {
		// The key is /microservices/<name>/<id>.
		rest := strings.TrimPrefix(key, KratosPrefix)
		if i := strings.LastIndex(rest, "/"); i > 0 {
			inst.Name = rest[:i]
		}
	}
	if inst.ID == "" {
		if i := strings.LastIndex(key, "/"); i >= 0 {
			inst.ID = key[i+1:]
		}
	}
	var grpcAddr, httpAddr string
	for _, ep := range inst.Endpoints {
		u, err := url.Parse(ep)
		if err != nil || u.Host == "" {
			return nil, fmt.Errorf("endpoint %q is not scheme://host:port", ep)
		}
		switch u.Scheme {
		case "grpc", "grpcs":
			if grpcAddr == "" {
				grpcAddr = u.Host
			}
		case "http", "https":
			if httpAddr == "" {
				httpAddr = u.Host
			}
		}
	}
	node := &registry.Node{ID: inst.ID, Metadata: maps.Clone(inst.Metadata)}
	if node.Metadata == nil {
		node.Metadata = map[string]string{}
	}
	node.Metadata[MetadataKratosEndpoints] = strings.Join(inst.Endpoints, ",")
	switch {
	case grpcAddr != "":
		node.Address = grpcAddr
		node.Metadata["protocol"], node.Metadata["server"], node.Metadata["transport"] = "grpc", "grpc", "grpc"
	case httpAddr != "":
		node.Address = httpAddr
		// Not go-micro's mucp over HTTP either, so no "transport": http.
		node.Metadata["protocol"], node.Metadata["server"] = "http", "kratos"
	default:
		return nil, fmt.Errorf("instance %q has no grpc:// or http:// endpoint (endpoints %v)", inst.ID, inst.Endpoints)
	}
	svc := &registry.Service{Name: inst.Name, Version: inst.Version, Nodes: []*registry.Node{node}}
	if err := registry.Validate(svc); err != nil {
		return nil, err
	}
	return []*registry.Service{svc}, nil
}

// decodeGoZero reads go-zero's record: key <service>/<id>, value host:port.
func (d *decoder) decodeGoZero(key string, value []byte) ([]*registry.Service, error) {
	i := strings.LastIndex(key, "/")
	if i <= 0 || i == len(key)-1 {
		return nil, errNotAddress
	}
	name, id := key[:i], key[i+1:]
	if len(d.goZeroKeys) > 0 && !slices.Contains(d.goZeroKeys, name) {
		return nil, nil
	}
	if _, err := strconv.ParseInt(id, 10, 64); err != nil {
		if len(d.goZeroKeys) > 0 {
			return nil, fmt.Errorf("the key does not end in a lease id: %q", id)
		}
		return nil, errNotAddress
	}
	addr := strings.TrimSpace(string(value))
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return nil, fmt.Errorf("%w: %q", errNotAddress, truncate(addr, 64))
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return nil, fmt.Errorf("%w: %q", errNotAddress, truncate(addr, 64))
	}
	return []*registry.Service{{
		Name: name,
		Nodes: []*registry.Node{{
			ID:       id,
			Address:  addr,
			Metadata: map[string]string{"protocol": "grpc", "server": "grpc", "transport": "grpc"},
		}},
	}}, nil
}

// splitNodes returns one single-node record per node of svc.
func splitNodes(svc *registry.Service) []*registry.Service {
	out := make([]*registry.Service, 0, len(svc.Nodes))
	for _, n := range svc.Nodes {
		out = append(out, registry.WithNode(svc, n))
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// escape makes a service name or node ID one segment of a key.
func escape(s string) string { return url.PathEscape(s) }
