package api

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"
)

// DefaultHeaders is the allow list of request headers passed to services as
// gRPC metadata, and of response metadata passed back as headers, when
// Options.Headers is empty: Authorization and every X-* header.
var defaultHeaders = []string{"Authorization", "X-*"}

// DefaultHeaders returns the default header allow list.
func DefaultHeaders() []string { return append([]string(nil), defaultHeaders...) }

// headerRule is one entry of the allow list: an exact name or a prefix
// ("X-*"), both case-insensitive.
type headerRule struct {
	name   string // lower case
	prefix bool
}

func parseHeaderRules(patterns []string) ([]headerRule, error) {
	var rules []headerRule
	for _, p := range patterns {
		p = strings.ToLower(strings.TrimSpace(p))
		if p == "" {
			continue
		}
		rule := headerRule{name: p}
		if strings.HasSuffix(p, "*") {
			rule = headerRule{name: strings.TrimSuffix(p, "*"), prefix: true}
		}
		if strings.ContainsAny(rule.name, "* \t:") {
			return nil, fmt.Errorf("api: header pattern %q: want a header name or a prefix ending in *", p)
		}
		rules = append(rules, rule)
	}
	return rules, nil
}

// reservedHeaders never pass either way: they belong to the protocols.
func reserved(lower string) bool {
	switch lower {
	case "content-type", "content-length", "content-encoding", "accept-encoding", "te", "trailer", "user-agent",
		"connection", "keep-alive", "transfer-encoding", "upgrade", "host", "x-grpc-web", "x-user-agent",
		"grpc-timeout", "grpc-encoding", "grpc-accept-encoding", "grpc-status", "grpc-message", "grpc-status-details-bin",
		"connect-protocol-version", "connect-timeout-ms", "connect-content-encoding", "connect-accept-encoding", "micro-service":
		return true
	}
	return strings.HasPrefix(lower, ":") || strings.HasPrefix(lower, "grpc-") || strings.HasPrefix(lower, "connect-")
}

// headerCacheSize bounds the header names whose allow-list decision is
// kept: names come from requests, so the cache must not grow without end.
const headerCacheSize = 256

// headerDecision is what the allow list says of a header name, as it came.
type headerDecision struct {
	lower string
	pass  bool
}

// headerNames caches headerDecisions by name; it is replaced, never
// changed, so that readers need no lock.
type headerNames struct {
	mu sync.Mutex // writers
	m  atomic.Pointer[map[string]headerDecision]
}

// decide returns the lower-case form of a header name and whether the
// allow list passes it, from the cache when it can.
func (g *Gateway) decide(key string) (string, bool) {
	if m := g.headerNames.m.Load(); m != nil {
		if d, ok := (*m)[key]; ok {
			return d.lower, d.pass
		}
	}
	lower := strings.ToLower(key)
	pass := g.allowed(lower)
	h := &g.headerNames
	h.mu.Lock()
	defer h.mu.Unlock()
	old := h.m.Load()
	if old == nil || len(*old) < headerCacheSize {
		next := make(map[string]headerDecision, 1+len(ptrMap(old)))
		for k, v := range ptrMap(old) {
			next[k] = v
		}
		next[key] = headerDecision{lower: lower, pass: pass}
		h.m.Store(&next)
	}
	return lower, pass
}

func ptrMap(m *map[string]headerDecision) map[string]headerDecision {
	if m == nil {
		return nil
	}
	return *m
}

func (g *Gateway) allowed(lower string) bool {
	if reserved(lower) {
		return false
	}
	for _, r := range g.headerRules {
		if r.prefix && strings.HasPrefix(lower, r.name) || !r.prefix && lower == r.name {
			return true
		}
	}
	return false
}

// requestMetadata is the metadata sent with a call: the allowed request
// headers. Authorization is the gateway's own when it checks a token, and
// is not passed on then. It is nil when no header passes.
func (g *Gateway) requestMetadata(h http.Header) metadata.MD {
	var md metadata.MD
	for key, values := range h {
		lower, pass := g.decide(key)
		if !pass || (lower == "authorization" && g.opts.AuthToken != "") {
			continue
		}
		if md == nil {
			md = metadata.MD{}
		}
		if strings.HasSuffix(lower, "-bin") {
			for _, v := range values {
				if data, err := decodeBinaryHeader(v); err == nil {
					md.Append(lower, string(data))
				}
			}
			continue
		}
		md.Append(lower, values...)
	}
	return md
}

// copyMetadata sets the allowed keys of md as headers of h, each with
// prefix ("" or "Trailer-"); binary values are base64.
func (g *Gateway) copyMetadata(h http.Header, md metadata.MD, prefix string) {
	for key, values := range md {
		if !g.allowed(key) {
			continue
		}
		for _, v := range values {
			if strings.HasSuffix(key, "-bin") {
				v = base64.RawStdEncoding.EncodeToString([]byte(v))
			}
			h.Add(prefix+key, v)
		}
	}
}

func decodeBinaryHeader(v string) ([]byte, error) {
	v = strings.TrimRight(v, "=")
	if data, err := base64.RawStdEncoding.DecodeString(v); err == nil {
		return data, nil
	}
	return base64.RawURLEncoding.DecodeString(v)
}

// requestTimeout is the time limit a request asks for: Connect-Timeout-Ms,
// else Grpc-Timeout; ok is false when it asks for none. A malformed value is
// an error.
func requestTimeout(h http.Header) (time.Duration, bool, error) {
	if v := h.Get("Connect-Timeout-Ms"); v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms <= 0 || len(v) > 10 {
			return 0, false, errorf(invalidArgument, "Connect-Timeout-Ms %q is not a positive number of milliseconds (at most 10 digits)", v)
		}
		return time.Duration(ms) * time.Millisecond, true, nil
	}
	if v := h.Get("Grpc-Timeout"); v != "" {
		d, err := parseGRPCTimeout(v)
		if err != nil {
			return 0, false, errorf(invalidArgument, "Grpc-Timeout %q: %v", v, err)
		}
		return d, true, nil
	}
	return 0, false, nil
}

// parseGRPCTimeout reads the gRPC timeout format: up to 8 digits and a unit
// (H, M, S, m, u, n).
func parseGRPCTimeout(v string) (time.Duration, error) {
	if len(v) < 2 || len(v) > 9 {
		return 0, fmt.Errorf("want 1 to 8 digits and a unit of H, M, S, m, u or n")
	}
	n, err := strconv.ParseInt(v[:len(v)-1], 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("want a positive number of digits before the unit")
	}
	units := map[byte]time.Duration{'H': time.Hour, 'M': time.Minute, 'S': time.Second, 'm': time.Millisecond, 'u': time.Microsecond, 'n': time.Nanosecond}
	unit, ok := units[v[len(v)-1]]
	if !ok {
		return 0, fmt.Errorf("unknown unit %q: want H, M, S, m, u or n", v[len(v)-1])
	}
	return time.Duration(n) * unit, nil
}
