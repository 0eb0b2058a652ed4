package api

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// HostCheck guards a handler against DNS rebinding: a web page of
// evil.example whose name is made to resolve to 127.0.0.1 would otherwise
// reach a gateway on loopback from the user's browser, with the browser
// sending "Host: evil.example". Build it with NewHostCheck and put it in
// front of the Gateway (HostCheck.Handler).
//
// A gateway listening on a loopback address serves only requests whose
// Host is localhost, a loopback IP (127.0.0.1, [::1]) or one of the allowed
// hosts, with any port; so does one listening on every address (0.0.0.0)
// for a request that reached it over loopback (the connection's local
// address, http.LocalAddrContextKey), which is where a rebound name leads.
// Otherwise every Host is served unless hosts were allowed; then only those
// and the loopback names. Others are answered 403 with the gateway's JSON error,
// naming the host and --allowed-host. A host name is compared in any case,
// without its port and final dot.
//
// Options.Hosts checks it inside the gateway, so that refused requests
// reach the access log; Handler puts it in front of any other handler.
type HostCheck struct {
	// allowed are the allowed host names, lower case, without ports.
	allowed []string
	// any is set by "*": every Host is served.
	any bool
	// loopback is set when the gateway listens on loopback (or on an
	// unknown address).
	loopback bool
	// command and noun name the program in the refusal (Named).
	command, noun string
}

// Named sets what the refusal calls the program and the server: by
// default "micro api" and "gateway" ("start micro api with
// --allowed-host ..."). It returns c.
func (c *HostCheck) Named(command, noun string) *HostCheck {
	c.command, c.noun = command, noun
	return c
}

// NewHostCheck returns the HostCheck of a gateway listening on listen (nil:
// checked as on loopback) that also serves the hosts in allowed: names or
// IP addresses, with or without a port (the port is ignored), or "*" for
// every host. An entry may hold several, separated by commas.
func NewHostCheck(listen net.Addr, allowed []string) (*HostCheck, error) {
	c := &HostCheck{loopback: isLoopbackAddr(listen), command: "micro api", noun: "gateway"}
	for _, entry := range allowed {
		for _, host := range strings.Split(entry, ",") {
			host = strings.TrimSpace(host)
			if host == "" {
				continue
			}
			if host == "*" {
				c.any = true
				continue
			}
			name, ok := hostName(host)
			if !ok || name == "" || strings.ContainsAny(name, "/ @?#*") {
				return nil, fmt.Errorf("api: allowed host %q: want a host name or IP address (api.example.com, 10.0.0.5), with or without a port, or *", host)
			}
			c.allowed = append(c.allowed, strings.ToLower(strings.TrimSuffix(name, ".")))
		}
	}
	return c, nil
}

// Handler returns next behind the check.
func (c *HostCheck) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c.Allowed(r) {
			next.ServeHTTP(w, r)
			return
		}
		refused := c.refusal(r)
		writePlainError(w, refused.HTTPStatus, status.New(refused.Code, refused.Message), nil)
	})
}

// Allowed tells whether r may be served. It allocates nothing.
func (c *HostCheck) Allowed(r *http.Request) bool {
	if c.any {
		return true
	}
	name, ok := hostName(r.Host)
	if !ok {
		return false
	}
	if isLoopbackName(name) || c.listed(name) {
		return true
	}
	// Another name: served only beyond loopback, and only when no hosts
	// were listed.
	return len(c.allowed) == 0 && !c.loopback && !overLoopback(r)
}

// overLoopback tells whether r came in on a loopback address of this
// machine.
func overLoopback(r *http.Request) bool {
	addr, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr)
	if !ok {
		return false
	}
	tcp, ok := addr.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}

func (c *HostCheck) listed(name string) bool {
	name = strings.TrimSuffix(name, ".")
	for _, allowed := range c.allowed {
		if strings.EqualFold(name, allowed) {
			return true
		}
	}
	return false
}

// refusal is the error a refused request is answered with: 403, naming
// the host and what to give --allowed-host.
func (c *HostCheck) refusal(r *http.Request) *Error {
	where := "listens on loopback"
	switch {
	case c.loopback:
	case len(c.allowed) > 0:
		where = "was given --allowed-host"
	default:
		where = "was reached over loopback"
	}
	hosts := "localhost, 127.0.0.1, [::1]"
	if len(c.allowed) > 0 {
		hosts += ", " + strings.Join(c.allowed, ", ")
	}
	msg := fmt.Sprintf("host %q refused (DNS rebinding protection): the %s %s and serves the hosts %s; if %q names this %s (a proxy's name, say), start %s with --allowed-host %s",
		r.Host, c.noun, where, hosts, r.Host, c.noun, c.command, suggestedHost(r.Host))
	return &Error{Code: codes.PermissionDenied, Message: msg, HTTPStatus: http.StatusForbidden}
}

// suggestedHost is what to give --allowed-host for host: its name, or NAME
// for a Host that is no host.
func suggestedHost(host string) string {
	if name, ok := hostName(host); ok && name != "" && !strings.ContainsAny(name, "'\" \t") {
		return name
	}
	return "NAME"
}

// hostName is the host of a Host header (or a host:port) without the port
// and without the brackets of an IPv6 address. ok is false for what is no
// host:port at all.
func hostName(host string) (name string, ok bool) {
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return "", false
		}
		rest := host[end+1:]
		if rest != "" && (rest[0] != ':' || !isPort(rest[1:])) {
			return "", false
		}
		return host[1:end], true
	}
	if i := strings.IndexByte(host, ':'); i >= 0 {
		if strings.IndexByte(host[i+1:], ':') >= 0 {
			// A bare IPv6 address (in --allowed-host; no Host has one).
			return host, true
		}
		if !isPort(host[i+1:]) {
			return "", false
		}
		return host[:i], true
	}
	return host, true
}

func isPort(s string) bool {
	if s == "" || len(s) > 5 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isLoopbackName tells whether a host name is localhost (with or without a
// final dot, in any case) or a loopback IP address.
func isLoopbackName(name string) bool {
	if strings.EqualFold(name, "localhost") || strings.EqualFold(name, "localhost.") {
		return true
	}
	if name == "" || !(name[0] >= '0' && name[0] <= '9' || strings.IndexByte(name, ':') >= 0) {
		return false
	}
	ip, err := netip.ParseAddr(name)
	return err == nil && ip.Zone() == "" && ip.Unmap().IsLoopback()
}

// isLoopbackAddr tells whether a listener's address is a loopback one;
// true for nil and addresses that are no IP (a Unix socket).
func isLoopbackAddr(addr net.Addr) bool {
	switch addr := addr.(type) {
	case nil:
		return true
	case *net.TCPAddr:
		return addr == nil || addr.IP.IsLoopback()
	}
	if ap, err := netip.ParseAddrPort(addr.String()); err == nil {
		return ap.Addr().Unmap().IsLoopback()
	}
	return true
}
