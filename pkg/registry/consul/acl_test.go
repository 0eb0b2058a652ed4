package consul_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/consul"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

// ACL rules of the tokens the tests create.
const (
	readRules    = `service_prefix "" { policy = "read" }` + "\n" + `node_prefix "" { policy = "read" }`
	kvOnlyRules  = `key_prefix "" { policy = "read" }`
	noNodesRules = `service_prefix "" { policy = "read" }`
)

func newRegistryWith(t *testing.T, opts ...consul.Option) *consul.Registry {
	t.Helper()
	r, err := consul.New(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestACL runs against an agent with ACLs on and default policy deny: every
// read that Consul refused or filtered says so and wraps
// registry.ErrPermissionDenied, instead of an empty list or "not found".
func TestACL(t *testing.T) {
	agent := testenv.Consul(t, testenv.ConsulACL())
	ctx := testContext(t)
	admin := newRegistryWith(t, consul.Address(agent.Addr()), consul.Token(agent.ManagementToken()))

	visible := registrytest.UniqueName(t, "visible")
	hidden := registrytest.UniqueName(t, "hidden")
	for i, name := range []string{visible, hidden} {
		svc := &registry.Service{Name: name, Version: "1.0.0", Nodes: []*registry.Node{
			{ID: name + "-1", Address: "127.0.0.1:" + []string{"9101", "9102"}[i]},
		}}
		if err := admin.Register(ctx, svc, registry.NoExpiry()); err != nil {
			t.Fatalf("register %s with the management token: %v", name, err)
		}
		t.Cleanup(func() { _ = admin.Deregister(ctx, svc) })
	}

	readToken := agent.ACLToken(t, readRules)
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(readToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	visibleOnly := agent.ACLToken(t, `service "`+visible+`" { policy = "read" }`+"\n"+`node_prefix "" { policy = "read" }`)

	cases := []struct {
		name string
		opts []consul.Option
		// wantList is the services ListServices returns; wantListErr, when
		// set, is in its error, which must wrap ErrPermissionDenied.
		wantList    []string
		wantListErr string
		wantGetErr  string // in GetService(visible)'s error; "" for success
	}{
		{
			name:        "no token",
			wantListErr: "hides every service from requests without an ACL token (ACL default policy deny)",
			wantGetErr:  "to a request without an ACL token, and its ACL default policy is deny",
		},
		{
			name:        "token without service rights",
			opts:        []consul.Option{consul.Token(agent.ACLToken(t, kvOnlyRules))},
			wantListErr: "hid every service from the token given (ACL filter)",
			wantGetErr:  "hid the nodes of",
		},
		{
			name:        "token that may not read nodes",
			opts:        []consul.Option{consul.Token(agent.ACLToken(t, noNodesRules))},
			wantListErr: "hid every service from the token given",
			wantGetErr:  "node:read",
		},
		{
			name:        "token consul does not know",
			opts:        []consul.Option{consul.Token("00000000-0000-4000-8000-000000000000")},
			wantListErr: "does not know the ACL token given (ACL not found)",
			wantGetErr:  "ACL not found",
		},
		{
			name:        "token that may read one service",
			opts:        []consul.Option{consul.Token(visibleOnly)},
			wantList:    []string{visible},
			wantListErr: "hid some services or nodes from the token",
		},
		{
			name:     "read token",
			opts:     []consul.Option{consul.Token(readToken)},
			wantList: []string{hidden, visible},
		},
		{
			name:     "read token from a file",
			opts:     []consul.Option{consul.TokenFile(tokenFile)},
			wantList: []string{hidden, visible},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRegistryWith(t, append([]consul.Option{consul.Address(agent.Addr())}, tc.opts...)...)

			services, err := r.ListServices(ctx)
			var names []string
			for _, svc := range services {
				if svc.Name == visible || svc.Name == hidden {
					names = append(names, svc.Name)
				}
			}
			if strings.Join(names, ",") != strings.Join(tc.wantList, ",") {
				t.Errorf("ListServices: want %v, have %v (error %v)", tc.wantList, names, err)
			}
			switch {
			case tc.wantListErr == "" && err != nil:
				t.Errorf("ListServices: want no error, have %v", err)
			case tc.wantListErr != "":
				if !errors.Is(err, registry.ErrPermissionDenied) || !strings.Contains(err.Error(), tc.wantListErr) {
					t.Errorf("ListServices: want an error wrapping ErrPermissionDenied saying %q, have %v", tc.wantListErr, err)
				}
				if err != nil && !strings.Contains(err.Error(), agent.Addr()) {
					t.Errorf("ListServices: the error should name the agent %s: %v", agent.Addr(), err)
				}
			}

			got, err := r.GetService(ctx, visible)
			if tc.wantGetErr == "" {
				if err != nil || len(got) != 1 || len(got[0].Nodes) != 1 {
					t.Errorf("GetService(%s): want one node, have %v, %v", visible, got, err)
				}
				return
			}
			if !errors.Is(err, registry.ErrPermissionDenied) || errors.Is(err, registry.ErrNotFound) || !strings.Contains(err.Error(), tc.wantGetErr) {
				t.Errorf("GetService: want an error wrapping ErrPermissionDenied (not ErrNotFound) saying %q, have %v", tc.wantGetErr, err)
			}
		})
	}

	t.Run("service that does not exist, read token", func(t *testing.T) {
		r := newRegistryWith(t, consul.Address(agent.Addr()), consul.Token(readToken))
		_, err := r.GetService(ctx, "no-such-service")
		if !errors.Is(err, registry.ErrNotFound) || errors.Is(err, registry.ErrPermissionDenied) {
			t.Errorf("want ErrNotFound, have %v", err)
		}
	})

	t.Run("register with a read token", func(t *testing.T) {
		r := newRegistryWith(t, consul.Address(agent.Addr()), consul.Token(readToken))
		svc := &registry.Service{Name: visible, Nodes: []*registry.Node{{ID: visible + "-2", Address: "127.0.0.1:9103"}}}
		err := r.Register(ctx, svc)
		if !errors.Is(err, registry.ErrPermissionDenied) || !strings.Contains(err.Error(), "service:write") || !strings.Contains(err.Error(), "refused the token given") {
			t.Errorf("want a refusal naming service:write, wrapping ErrPermissionDenied, have %v", err)
		}
	})

	t.Run("watch without rights", func(t *testing.T) {
		r := newRegistryWith(t, consul.Address(agent.Addr()), consul.Token(agent.ACLToken(t, kvOnlyRules)))
		for _, opts := range [][]registry.WatchOption{nil, {registry.WatchService(visible)}} {
			w, err := r.Watch(ctx, opts...)
			if err == nil {
				w.Stop()
			}
			if !errors.Is(err, registry.ErrPermissionDenied) {
				t.Errorf("Watch(%d options): want an error wrapping ErrPermissionDenied, have %v", len(opts), err)
			}
		}
	})
}
