package mcp

import (
	"fmt"
	"path"
	"strings"
)

// Filter chooses the endpoints a Server serves, from --allow and --deny
// patterns. A pattern is a service ("greeter") or a service and an endpoint
// ("greeter/Greeter.Hello", "greeter/greeter.v1.Greeter.Hello"), each part a
// glob in which '*' matches any run of characters (path.Match syntax), so
// "greeter/*", "*/Greeter.Hello" and "billing-*" work. An endpoint is served
// when no deny pattern matches it and, when there are allow patterns, one of
// them does. Deny wins.
type Filter struct {
	allow, deny []pattern
}

type pattern struct {
	service  string
	endpoint string // "" for a service pattern
}

// NewFilter parses allow and deny patterns; a malformed one is an error
// that names it.
func NewFilter(allow, deny []string) (*Filter, error) {
	f := &Filter{}
	var err error
	if f.allow, err = parsePatterns("allow", allow); err != nil {
		return nil, err
	}
	if f.deny, err = parsePatterns("deny", deny); err != nil {
		return nil, err
	}
	return f, nil
}

func parsePatterns(flag string, raw []string) ([]pattern, error) {
	var out []pattern
	for _, r := range raw {
		service, endpoint, hasEndpoint := strings.Cut(strings.TrimSpace(r), "/")
		// The endpoint may be a gRPC path, package.Service/Method: one more '/'.
		if service == "" || hasEndpoint && (endpoint == "" || strings.HasSuffix(endpoint, "/") || strings.Count(endpoint, "/") > 1) {
			return nil, fmt.Errorf("mcp: %s pattern %q: want SERVICE or SERVICE/ENDPOINT, such as greeter or greeter/Greeter.Hello", flag, r)
		}
		p := pattern{service: service, endpoint: endpoint}
		for _, part := range []string{p.service, p.endpoint} {
			if _, err := path.Match(part, ""); err != nil {
				return nil, fmt.Errorf("mcp: %s pattern %q: %w", flag, r, err)
			}
		}
		out = append(out, p)
	}
	return out, nil
}

func match(glob, s string) bool {
	ok, _ := path.Match(glob, s)
	return ok
}

func (p pattern) matches(service string, endpoints []string) bool {
	if !match(p.service, service) {
		return false
	}
	if p.endpoint == "" {
		return true
	}
	for _, e := range endpoints {
		if match(p.endpoint, e) {
			return true
		}
	}
	return false
}

// AllowsEndpoint tells whether an endpoint of service is served; names are
// the endpoint's names to match patterns against (the go-micro name
// "Greeter.Hello" and the full name "greeter.v1.Greeter.Hello").
func (f *Filter) AllowsEndpoint(service string, names ...string) bool {
	for _, p := range f.deny {
		if p.matches(service, names) {
			return false
		}
	}
	if len(f.allow) == 0 {
		return true
	}
	for _, p := range f.allow {
		if p.matches(service, names) {
			return true
		}
	}
	return false
}

// AllowsService tells whether any endpoint of service may be served: it is
// not denied as a whole and, with allow patterns, one of them names it.
// Services it refuses are not even described.
func (f *Filter) AllowsService(service string) bool {
	for _, p := range f.deny {
		if p.endpoint == "" && match(p.service, service) {
			return false
		}
	}
	if len(f.allow) == 0 {
		return true
	}
	for _, p := range f.allow {
		if match(p.service, service) {
			return true
		}
	}
	return false
}
