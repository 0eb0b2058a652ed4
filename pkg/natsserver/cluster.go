package natsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// DefaultClusterPort is the route port of a member whose cluster address
// names none.
const DefaultClusterPort = "6222"

// ClusterOptions make a server a member of a NATS cluster. Every member
// names the same cluster, listens for routes on its own Address and is
// given the route addresses of the others; JetStream is then clustered
// over the members (a Raft group of the servers), so streams and key-value
// buckets can keep replicas on several members.
type ClusterOptions struct {
	// Name is the cluster name, the same on every member. Empty means a
	// single server: the rest is ignored.
	Name string
	// Address is the route listener, host:port. Port 0 picks a free port
	// (useless for members that must name each other, fine for one).
	// Default 127.0.0.1:6222 with the host of the client address.
	Address string
	// Routes are the route addresses of the other members, host:port or
	// nats-route://host:port. A member may list itself; it is skipped.
	Routes []string
}

// apply copies the cluster settings into the nats-server options.
func (c ClusterOptions) apply(o *server.Options) error {
	if c.Name == "" {
		if c.Address != "" || len(c.Routes) > 0 {
			return errors.New("nats server: a cluster address or routes need a cluster name")
		}
		return nil
	}
	if strings.ContainsAny(c.Name, " \t\n.*>") {
		return fmt.Errorf("nats server: cluster name %q: use letters, digits, '-' and '_'", c.Name)
	}
	addr := c.Address
	if addr == "" {
		addr = net.JoinHostPort(o.Host, DefaultClusterPort)
	}
	host, port, err := splitAddress(addr)
	if err != nil {
		return fmt.Errorf("nats server: cluster address: %w", err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	} else if err := probeListen(addr); err != nil {
		return err
	}
	o.Cluster = server.ClusterOpts{Name: c.Name, Host: host, Port: port}
	routes, err := RouteURLs(c.Routes)
	if err != nil {
		return err
	}
	self := addr
	for _, r := range routes {
		if r.Host == self {
			continue
		}
		o.Routes = append(o.Routes, r)
	}
	return nil
}

// RouteURLs parses route addresses, host:port or nats-route://host:port,
// dropping blanks. Entries may themselves be comma-separated lists.
func RouteURLs(routes []string) ([]*url.URL, error) {
	var out []*url.URL
	for _, entry := range routes {
		for r := range strings.SplitSeq(entry, ",") {
			r = strings.TrimSpace(r)
			if r == "" {
				continue
			}
			if !strings.Contains(r, "://") {
				r = "nats-route://" + r
			}
			u, err := url.Parse(r)
			if err != nil || u.Host == "" {
				return nil, fmt.Errorf("nats server: route %q is not host:port or nats-route://host:port", r)
			}
			if u.Port() == "" {
				u.Host = net.JoinHostPort(u.Hostname(), DefaultClusterPort)
			}
			if _, err := strconv.Atoi(u.Port()); err != nil {
				return nil, fmt.Errorf("nats server: route %q has an invalid port", r)
			}
			out = append(out, u)
		}
	}
	return out, nil
}

// MemberName derives a server name from a cluster address, so that each
// member has a different, stable name without being given one:
// "127.0.0.1:6222" becomes "micro-127-0-0-1-6222". JetStream keeps a
// member's identity by its name: a member restarted with the same address
// and data directory rejoins as itself.
func MemberName(clusterAddress string) string {
	if clusterAddress == "" {
		clusterAddress = "127.0.0.1:" + DefaultClusterPort
	}
	var b strings.Builder
	b.WriteString(DefaultServerName)
	b.WriteByte('-')
	for _, r := range clusterAddress {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	return strings.Trim(b.String(), "-")
}

// Name is the server's name, as JetStream knows it.
func (s *Server) Name() string { return s.name }

// ClusterName is the cluster the server is a member of; empty for a single
// server.
func (s *Server) ClusterName() string { return s.clusterName }

// ClusterAddr is the route listener, host:port; empty for a single server.
func (s *Server) ClusterAddr() string { return s.clusterAddr }

// Routes is the number of other members the server is connected to.
func (s *Server) Routes() int { return s.ns.NumRemotes() }

// WaitJetStream waits until JetStream can serve requests: at once for a
// single server; for a cluster member, once the members have elected a
// meta leader, which needs a majority of them running. ctx bounds the wait.
func (s *Server) WaitJetStream(ctx context.Context) error {
	for {
		// Current: a single server, or a member of a meta group that has
		// a leader this member follows (or is) and is caught up with.
		if s.ns.JetStreamEnabled() && s.ns.JetStreamIsCurrent() {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nats server: jetstream of cluster %q has no leader at %s (%d of the other members connected): %w", s.clusterName, s.url, s.ns.NumRemotes(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}
