package callutil

import (
	"context"
	"fmt"
	"strings"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/registry"
)

// TargetSpec is what the arguments of a call name before the registry is
// asked: either the product's own form, one argument that joins the
// service and the method (greeter.Hello, greeter.Greeter.Hello,
// greeter.greeter.v1.Greeter.Hello, go.micro.srv.greeter.Greeter.Hello),
// or the two-argument form SERVICE ENDPOINT.
type TargetSpec struct {
	// Joined is the one-argument form; empty for the two-argument form.
	Joined string
	// Service and Endpoint are the two-argument form.
	Service, Endpoint string
}

// Target is the service (as registered) and the endpoint a call goes to,
// once resolved.
type Target struct {
	Service, Endpoint string
}

// String is the spec as the user typed it.
func (s TargetSpec) String() string {
	if s.Joined != "" {
		return s.Joined
	}
	return s.Service + " " + s.Endpoint
}

// isEndpoint reports whether s is an endpoint of the two-argument form:
// Service.Method, package.Service.Method or package.Service/Method, that
// is ^/?[A-Za-z_][A-Za-z0-9_]*([./][A-Za-z_][A-Za-z0-9_]*)+$. A JSON
// request never has this shape (a number starts with a digit, a literal has
// no dot). A loop rather than a regexp: a package-level regexp is compiled
// at start-up by every command.
func isEndpoint(s string) bool {
	s = strings.TrimPrefix(s, "/")
	parts := 0
	for {
		i := 0
		for i < len(s) && (s[i] == '_' || isLetter(s[i]) || i > 0 && isDigit(s[i])) {
			i++
		}
		if i == 0 {
			return false
		}
		parts++
		if i == len(s) {
			return parts >= 2
		}
		if s[i] != '.' && s[i] != '/' {
			return false
		}
		s = s[i+1:]
	}
}

// isJoined reports whether s is the one-argument form: dotted names, at
// least two, of letters, digits, '_' and '-' (^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$).
func isJoined(s string) bool {
	parts := 0
	for _, part := range strings.Split(s, ".") {
		if part == "" {
			return false
		}
		for i := 0; i < len(part); i++ {
			if c := part[i]; !isLetter(c) && !isDigit(c) && c != '_' && c != '-' {
				return false
			}
		}
		parts++
	}
	return parts >= 2
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// ParseCallArgs reads the call form at the start of args, as `micro call`,
// `stream` and `bench` take it: SERVICE ENDPOINT when the second argument
// has the shape of an endpoint, else svc.Method in the first. rest is what
// follows (the JSON requests).
func ParseCallArgs(args []string) (spec TargetSpec, rest []string, err error) {
	if len(args) == 0 {
		return TargetSpec{}, nil, cmdutil.Usagef("name what to call: svc.Method (greeter.Hello) or SERVICE ENDPOINT (greeter Greeter.Hello)")
	}
	if len(args) >= 2 && isEndpoint(args[1]) {
		return TargetSpec{Service: args[0], Endpoint: args[1]}, args[2:], nil
	}
	if isJoined(args[0]) {
		return TargetSpec{Joined: args[0]}, args[1:], nil
	}
	if len(args) >= 2 && !strings.Contains(args[0], ".") {
		// SERVICE then something that is not an endpoint: say what an
		// endpoint looks like.
		if err := ValidateEndpoint(args[1]); err != nil {
			return TargetSpec{}, nil, err
		}
		return TargetSpec{}, nil, cmdutil.Usagef("endpoint %q is not Service.Method (Greeter.Hello), package.Service.Method or package.Service/Method", args[1])
	}
	return TargetSpec{}, nil, cmdutil.Usagef("%q is not svc.Method (greeter.Hello, greeter.Greeter.Hello), and no endpoint follows it: give an endpoint as in micro call greeter Greeter.Hello", args[0])
}

// ParseDescribeArgs reads the arguments of `micro describe`: SERVICE
// [SYMBOL], or one argument that joins the service and the symbol
// (greeter.Greeter.Hello), or a dotted service name alone.
func ParseDescribeArgs(args []string) (TargetSpec, error) {
	switch {
	case len(args) == 2:
		return TargetSpec{Service: args[0], Endpoint: args[1]}, nil
	case len(args) == 1 && strings.Contains(args[0], "."):
		return TargetSpec{Joined: args[0]}, nil
	case len(args) == 1:
		return TargetSpec{Service: args[0]}, nil
	}
	return TargetSpec{}, cmdutil.Usagef("describe takes a service and at most one symbol")
}

// ServiceLister lists what is registered; registry.Registry is one.
type ServiceLister interface {
	ListServices(ctx context.Context) ([]*registry.Service, error)
}

// ResolveTarget turns spec into the service and endpoint of a call. The
// two-argument form is taken as it is. The one-argument form is split
// where a registered service ends: the prefix of its dotted names that is
// a registered service (go.micro.srv.greeter.Greeter.Hello is
// go.micro.srv.greeter and Greeter.Hello). With address (--address, no
// registry) the service is the first name. When two prefixes are
// registered services, both readings exist: the error says so and asks for
// the two-argument form. wholeAllowed lets the whole argument be the
// service, with an empty endpoint (describe SERVICE).
//
// The registry is asked only when the argument has more than one reading.
func ResolveTarget(ctx context.Context, spec TargetSpec, address string, wholeAllowed bool, registryOf func(context.Context) (registry.Registry, error)) (Target, error) {
	if spec.Joined == "" {
		return Target{Service: spec.Service, Endpoint: spec.Endpoint}, nil
	}
	names := strings.Split(spec.Joined, ".")
	readings := readingsOf(names, wholeAllowed)
	if address != "" || len(readings) == 1 {
		return readings[0], nil
	}
	reg, err := registryOf(ctx)
	if err != nil {
		return Target{}, err
	}
	lister := ServiceLister(reg)
	return chooseReading(ctx, spec.Joined, readings, lister)
}

// readingsOf lists the ways to split names into a service and an endpoint,
// the shortest service first.
func readingsOf(names []string, wholeAllowed bool) []Target {
	var readings []Target
	for k := 1; k < len(names); k++ {
		readings = append(readings, Target{Service: strings.Join(names[:k], "."), Endpoint: strings.Join(names[k:], ".")})
	}
	if wholeAllowed {
		readings = append(readings, Target{Service: strings.Join(names, ".")})
	}
	return readings
}

// chooseReading picks the reading whose service is registered.
func chooseReading(ctx context.Context, joined string, readings []Target, lister ServiceLister) (Target, error) {
	services, err := lister.ListServices(ctx)
	if err != nil {
		return Target{}, fmt.Errorf("find the service of %q: %w", joined, err)
	}
	registered := map[string]bool{}
	for _, svc := range services {
		registered[svc.Name] = true
	}
	var found []Target
	for _, r := range readings {
		if registered[r.Service] {
			found = append(found, r)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		tried := make([]string, len(readings))
		for i, r := range readings {
			tried[i] = fmt.Sprintf("%q", r.Service)
		}
		return Target{}, fmt.Errorf("%w: no service of %q is registered (looked for %s)", registry.ErrNotFound, joined, strings.Join(tried, ", "))
	}
	// The longest registered prefix would win, but the shorter one is a
	// service too: the user has to say which.
	var options []string
	for _, r := range found {
		endpoint := r.Endpoint
		if endpoint == "" {
			options = append(options, fmt.Sprintf("service %q", r.Service))
			continue
		}
		options = append(options, fmt.Sprintf("service %q with endpoint %q", r.Service, endpoint))
	}
	last := found[len(found)-1]
	return Target{}, cmdutil.Usagef("%q has two readings, both registered: %s; give the service and the endpoint apart, as in `micro call %s Service.Method`",
		joined, strings.Join(options, " or "), last.Service)
}
