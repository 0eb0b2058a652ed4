package callutil

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

func TestParseCallArgs(t *testing.T) {
	cases := []struct {
		args     []string
		want     TargetSpec
		wantRest []string
		wantErr  string
	}{
		{args: []string{"greeter.Hello", `{"name":"Ada"}`}, want: TargetSpec{Joined: "greeter.Hello"}, wantRest: []string{`{"name":"Ada"}`}},
		{args: []string{"greeter.Hello"}, want: TargetSpec{Joined: "greeter.Hello"}, wantRest: []string{}},
		{args: []string{"greeter.greeter.v1.Greeter.Hello", `"a"`}, want: TargetSpec{Joined: "greeter.greeter.v1.Greeter.Hello"}, wantRest: []string{`"a"`}},
		{args: []string{"greeter.Hello", "1.5"}, want: TargetSpec{Joined: "greeter.Hello"}, wantRest: []string{"1.5"}},
		{args: []string{"greeter.Hello", "true"}, want: TargetSpec{Joined: "greeter.Hello"}, wantRest: []string{"true"}},
		{args: []string{"greeter", "Greeter.Hello", "{}"}, want: TargetSpec{Service: "greeter", Endpoint: "Greeter.Hello"}, wantRest: []string{"{}"}},
		{args: []string{"greeter", "greeter.v1.Greeter/Hello"}, want: TargetSpec{Service: "greeter", Endpoint: "greeter.v1.Greeter/Hello"}, wantRest: []string{}},
		{args: []string{"go.micro.srv.greeter", "Greeter.Hello"}, want: TargetSpec{Service: "go.micro.srv.greeter", Endpoint: "Greeter.Hello"}, wantRest: []string{}},
		{args: []string{"greeter", "Hello"}, wantErr: `endpoint "Hello" is not Service.Method`},
		{args: []string{"greeter"}, wantErr: `"greeter" is not svc.Method`},
		{args: []string{}, wantErr: "name what to call"},
	}
	for _, tc := range cases {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			have, rest, err := ParseCallArgs(tc.args)
			if tc.wantErr != "" {
				var usage *cmdutil.UsageError
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &usage) {
					t.Fatalf("want a usage error with %q, have %v", tc.wantErr, err)
				}
				return
			}
			if err != nil || have != tc.want || !slices.Equal(rest, tc.wantRest) {
				t.Errorf("want %+v %q, have %+v %q (%v)", tc.want, tc.wantRest, have, rest, err)
			}
		})
	}
}

// TestCallFormShapes checks the loops of isEndpoint and isJoined against
// the regular expressions they stand for, on inputs at and around their
// edges.
func TestCallFormShapes(t *testing.T) {
	endpoint := regexp.MustCompile(`^/?[A-Za-z_][A-Za-z0-9_]*([./][A-Za-z_][A-Za-z0-9_]*)+$`)
	joined := regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$`)
	inputs := []string{
		"", ".", "/", "//", "a", "a.", ".a", "a.b", "/a.b", "//a.b", "a/b", "/a/b", "a..b", "a./b",
		"Greeter.Hello", "greeter.v1.Greeter/Hello", "/greeter.v1.Greeter/Hello", "_a._b", "a1.b2",
		"1a.b", "a.1b", "a-b.c", "a.b-c", "go.micro.srv.greeter", "1.5", "-1.5", "a.b.", "a.b\n",
		"{}", `{"name":"Ada"}`, `"a.b"`, "true", "Hello", "a b.c", "a.b c", "é.b", "a.é",
		"greeter.greeter.v1.Greeter.Hello", "__.__", "a-.-b", "--.--", "a/b/c.d",
	}
	for _, in := range inputs {
		if have, want := isEndpoint(in), endpoint.MatchString(in); have != want {
			t.Errorf("isEndpoint(%q) = %v, want %v", in, have, want)
		}
		if have, want := isJoined(in), joined.MatchString(in); have != want {
			t.Errorf("isJoined(%q) = %v, want %v", in, have, want)
		}
	}
}

func TestResolveTarget(t *testing.T) {
	ctx := context.Background()
	reg := memory.New()
	t.Cleanup(func() { reg.Close() })
	for _, name := range []string{"greeter", "go.micro.srv.greeter", "shop", "shop.cart"} {
		svc := &registry.Service{Name: name, Version: "1", Nodes: []*registry.Node{{ID: name + "-1", Address: "127.0.0.1:1"}}}
		if err := reg.Register(ctx, svc); err != nil {
			t.Fatal(err)
		}
	}
	asked := 0
	registryOf := func(context.Context) (registry.Registry, error) { asked++; return reg, nil }

	cases := []struct {
		joined  string
		address string
		whole   bool
		want    Target
		wantErr string
		noAsk   bool
	}{
		{joined: "greeter.Hello", want: Target{"greeter", "Hello"}, noAsk: true},
		{joined: "greeter.Greeter.Hello", want: Target{"greeter", "Greeter.Hello"}},
		{joined: "greeter.greeter.v1.Greeter.Hello", want: Target{"greeter", "greeter.v1.Greeter.Hello"}},
		{joined: "go.micro.srv.greeter.Greeter.Hello", want: Target{"go.micro.srv.greeter", "Greeter.Hello"}},
		{joined: "go.micro.srv.greeter.Hello", want: Target{"go.micro.srv.greeter", "Hello"}},
		{joined: "go.micro.srv.greeter.Greeter.Hello", address: "127.0.0.1:9", want: Target{"go", "micro.srv.greeter.Greeter.Hello"}, noAsk: true},
		{joined: "go.micro.srv.greeter", whole: true, want: Target{Service: "go.micro.srv.greeter"}},
		{joined: "greeter.Greeter", whole: true, want: Target{"greeter", "Greeter"}},
		{joined: "shop.cart.Cart.Add", wantErr: `"shop.cart.Cart.Add" has two readings, both registered: service "shop" with endpoint "cart.Cart.Add" or service "shop.cart" with endpoint "Cart.Add"`},
		{joined: "nothere.Greeter.Hello", wantErr: `no service of "nothere.Greeter.Hello" is registered (looked for "nothere", "nothere.Greeter")`},
	}
	for _, tc := range cases {
		t.Run(tc.joined, func(t *testing.T) {
			asked = 0
			have, err := ResolveTarget(ctx, TargetSpec{Joined: tc.joined}, tc.address, tc.whole, registryOf)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, have %v", tc.wantErr, err)
				}
				return
			}
			if err != nil || have != tc.want {
				t.Errorf("want %+v, have %+v (%v)", tc.want, have, err)
			}
			if tc.noAsk && asked > 0 {
				t.Errorf("asked the registry for an argument with one reading")
			}
		})
	}

	// The two-argument form is taken as it is.
	have, err := ResolveTarget(ctx, TargetSpec{Service: "shop", Endpoint: "Cart.Add"}, "", false, registryOf)
	if err != nil || have != (Target{"shop", "Cart.Add"}) {
		t.Errorf("two-argument form: %+v, %v", have, err)
	}
	// Two readings are a usage error; none found is registry.ErrNotFound.
	_, err = ResolveTarget(ctx, TargetSpec{Joined: "shop.cart.Cart.Add"}, "", false, registryOf)
	if !errors.As(err, new(*cmdutil.UsageError)) {
		t.Errorf("two readings: want a usage error, have %T %v", err, err)
	}
	_, err = ResolveTarget(ctx, TargetSpec{Joined: "nothere.Greeter.Hello"}, "", false, registryOf)
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("no reading: want registry.ErrNotFound, have %v", err)
	}
}

func TestCompleteTarget(t *testing.T) {
	services := []string{"greeter", "go.micro.srv.greeter", "shop"}
	endpoints := map[string][]string{
		"greeter":              {"Greeter.Hello", "Greeter.Stream"},
		"go.micro.srv.greeter": {"Say.Hello"},
	}
	endpointsOf := func(s string) []string { return endpoints[s] }
	cases := []struct {
		word string
		want []string
	}{
		{"gr", []string{"greeter"}},
		{"g", []string{"greeter", "go.micro.srv.greeter"}},
		{"greeter.", []string{"greeter.Greeter.Hello", "greeter.Greeter.Stream"}},
		{"greeter.Greeter.S", []string{"greeter.Greeter.Stream"}},
		{"go.micro.srv.greeter.", []string{"go.micro.srv.greeter.Say.Hello"}},
		{"shop.", nil},
	}
	for _, tc := range cases {
		if have := CompleteTarget(services, endpointsOf, tc.word); !slices.Equal(have, tc.want) {
			t.Errorf("%q: want %q, have %q", tc.word, tc.want, have)
		}
	}
}
