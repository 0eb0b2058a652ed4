package consul

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/hashicorp/consul/api"
)

// Failover is what Options.OnFailover is told when the registry moves to
// another agent: From could not be reached (Err says why) and To answered.
type Failover struct {
	From, To string
	Err      error
}

// String is one line for a log: "consul agent 127.0.0.1:8500 unreachable
// (connection refused); using 127.0.0.1:8501".
func (f Failover) String() string {
	return fmt.Sprintf("consul agent %s unreachable (%s); using %s", f.From, shortCause(f.Err), f.To)
}

// FailoverHandler is told when the registry moves to another agent.
type FailoverHandler interface {
	Failover(Failover)
}

// FailoverFunc is a function that is a FailoverHandler.
type FailoverFunc func(Failover)

// Failover implements FailoverHandler.
func (fn FailoverFunc) Failover(f Failover) { fn(f) }

// OnFailover sets a function told each time the registry moves from one of
// several agents to another: once per move, not per request. It runs on the
// goroutine of the request that moved; return quickly.
func OnFailover(fn func(Failover)) Option {
	return func(o *Options) error {
		if fn == nil {
			o.OnFailover = nil
			return nil
		}
		o.OnFailover = FailoverFunc(fn)
		return nil
	}
}

// normalizeAgents checks a comma-separated list of agent addresses and
// returns each as normalizeAddress does. A list cannot hold unix sockets.
func normalizeAgents(addrs string) ([]string, error) {
	if !strings.Contains(addrs, ",") {
		addr, err := normalizeAddress(addrs)
		if err != nil {
			return nil, err
		}
		return []string{addr}, nil
	}
	var out []string
	for part := range strings.SplitSeq(addrs, ",") {
		if strings.TrimSpace(part) == "" {
			continue
		}
		addr, err := normalizeAddress(part)
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(addr, "unix://") {
			return nil, fmt.Errorf("consul registry: agent address %q: a list of agents cannot hold a unix socket", addr)
		}
		out = append(out, addr)
	}
	if len(out) == 0 {
		return nil, errors.New("consul registry: empty agent address")
	}
	return out, nil
}

// splitAgents returns the agents of o.Address when it lists several, and
// leaves the first in o.Address for clientConfig. With one agent it
// returns it alone and changes nothing.
func (o *Options) splitAgents() ([]string, error) {
	if !strings.Contains(o.Address, ",") {
		return nil, nil
	}
	agents, err := normalizeAgents(o.Address)
	if err != nil {
		return nil, err
	}
	hosts := make([]string, len(agents))
	for i, a := range agents {
		hosts[i] = hostOf(a)
	}
	o.Address = agents[0]
	return hosts, nil
}

// hostOf is the host:port of an agent address, with or without a scheme.
func hostOf(addr string) string {
	if _, rest, ok := strings.Cut(addr, "://"); ok {
		host, _, _ := strings.Cut(rest, "/")
		return host
	}
	return addr
}

// withFailover makes cfg's HTTP client send each request to the agent that
// answered last, and move to the next agent when one cannot be reached.
func withFailover(cfg *api.Config, agents []string, report FailoverHandler) {
	hc := &http.Client{}
	if cfg.HttpClient != nil {
		copied := *cfg.HttpClient
		hc = &copied
	}
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	hc.Transport = &failoverTransport{base: base, agents: agents, report: report}
	cfg.HttpClient = hc
}

// failoverTransport sends each request to the current agent; when the
// agent cannot be reached it tries the others in turn and keeps the first
// that answers. A request is sent again only when it cannot have reached
// the agent (the connection was refused or not made), or when it is a read
// (GET), which any agent may answer again.
type failoverTransport struct {
	base   http.RoundTripper
	agents []string
	report FailoverHandler

	mu      sync.Mutex
	current int
}

func (f *failoverTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	f.mu.Lock()
	start := f.current
	f.mu.Unlock()
	var firstErr error
	for i := range f.agents {
		idx := (start + i) % len(f.agents)
		out := req.Clone(req.Context())
		out.URL.Host = f.agents[idx]
		out.Host = ""
		if i > 0 && req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, firstErr
			}
			body, err := req.GetBody()
			if err != nil {
				return nil, firstErr
			}
			out.Body = body
		}
		resp, err := f.base.RoundTrip(out)
		if err == nil {
			if i > 0 {
				f.moved(start, idx, firstErr)
			}
			return resp, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if req.Context().Err() != nil || !retryable(req, err) {
			return nil, err
		}
	}
	return nil, firstErr
}

// moved records that agent to answered after from failed, and reports it
// once: a request that started on from while another had moved already
// reports nothing.
func (f *failoverTransport) moved(from, to int, cause error) {
	f.mu.Lock()
	changed := f.current == from
	if changed {
		f.current = to
	}
	f.mu.Unlock()
	if changed && f.report != nil {
		f.report.Failover(Failover{From: f.agents[from], To: f.agents[to], Err: cause})
	}
}

// retryable reports whether req may be sent to another agent after err.
func retryable(req *http.Request, err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true // never reached the agent
	}
	if req.Method != http.MethodGet {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &opErr) ||
		errors.Is(err, context.DeadlineExceeded) && req.Context().Err() == nil
}
