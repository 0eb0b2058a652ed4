package natsserver_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/natsconn"
	"github.com/microtools/micro/pkg/natsserver"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

func TestRouteURLs(t *testing.T) {
	tests := []struct {
		in      []string
		want    string
		wantErr string
	}{
		{in: []string{"127.0.0.1:6223", " nats-route://10.0.0.2:7000 "}, want: "nats-route://127.0.0.1:6223 nats-route://10.0.0.2:7000"},
		{in: []string{"127.0.0.1:6223,127.0.0.1:6224", ""}, want: "nats-route://127.0.0.1:6223 nats-route://127.0.0.1:6224"},
		{in: []string{"host-a"}, want: "nats-route://host-a:6222"},
		{in: []string{"127.0.0.1:port"}, wantErr: `route "nats-route://127.0.0.1:port"`},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.in, "|"), func(t *testing.T) {
			urls, err := natsserver.RouteURLs(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("want an error with %q, have %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var have []string
			for _, u := range urls {
				have = append(have, u.String())
			}
			if got := strings.Join(have, " "); got != tt.want {
				t.Errorf("want %s, have %s", tt.want, got)
			}
		})
	}
}

func TestMemberName(t *testing.T) {
	if have, want := natsserver.MemberName("127.0.0.1:6222"), "micro-127-0-0-1-6222"; have != want {
		t.Errorf("want %s, have %s", want, have)
	}
	if natsserver.MemberName("127.0.0.1:6222") == natsserver.MemberName("127.0.0.1:6223") {
		t.Error("two cluster addresses gave one name")
	}
}

func TestClusterOptionsErrors(t *testing.T) {
	tests := []struct {
		name    string
		opts    natsserver.ClusterOptions
		wantErr string
	}{
		{"routes without a name", natsserver.ClusterOptions{Routes: []string{"127.0.0.1:6222"}}, "need a cluster name"},
		{"bad name", natsserver.ClusterOptions{Name: "a.b", Address: "127.0.0.1:0"}, "cluster name"},
		{"bad address", natsserver.ClusterOptions{Name: "c", Address: "nowhere"}, "cluster address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := natsserver.Start(testContext(t), natsserver.Options{Address: "127.0.0.1:0", DataDir: t.TempDir(), Cluster: tt.opts})
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("want an error with %q, have %v", tt.wantErr, err)
			}
		})
	}
}

// TestCluster runs three members: the registry bucket gets 3 replicas by
// itself, survives a member that stops, and the member rejoins.
func TestCluster(t *testing.T) {
	c := testenv.NewNATSCluster(t, 3)
	ctx := testContext(t)

	nc, err := natsconn.Connect(ctx, natsconn.Options{URL: c.Members[0].URL(), ReconnectWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	testutil.Eventually(t, 10*time.Second, func() error {
		if have := natsconn.ClusterReplicas(nc); have != 3 {
			return fmt.Errorf("ClusterReplicas: want 3 on a cluster of three, have %d (servers %v)", have, nc.Servers())
		}
		return nil
	})

	reg, err := natsregistry.New(ctx, natsregistry.WithURL(c.URLs()), natsregistry.WithReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	if have := reg.Replicas(); have != 3 {
		t.Fatalf("registry bucket: want 3 replicas, have %d", have)
	}
	svc := func(id string) *registry.Service {
		return &registry.Service{Name: "clustered", Version: "1", Nodes: []*registry.Node{{ID: id, Address: "127.0.0.1:1"}}}
	}
	if err := reg.Register(ctx, svc("a"), registry.WithTTL(time.Minute)); err != nil {
		t.Fatal(err)
	}

	c.Members[0].Stop()
	testutil.Eventually(t, 20*time.Second, func() error {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		defer cancel()
		if err := reg.Register(rctx, svc("b"), registry.WithTTL(time.Minute)); err != nil {
			return err
		}
		services, err := reg.GetService(rctx, "clustered")
		if err != nil {
			return err
		}
		if n := len(services[0].Nodes); n != 2 {
			return fmt.Errorf("want nodes a and b with one member down, have %d", n)
		}
		return nil
	})

	c.Members[0].Restart(t)
	c.WaitReady(t)
	testutil.Eventually(t, 20*time.Second, func() error {
		if have := c.Members[0].Routes(); have != 2 {
			return fmt.Errorf("the restarted member has routes to %d members, want 2", have)
		}
		return nil
	})
	only, err := natsregistry.New(ctx, natsregistry.WithURL(c.Members[0].URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { only.Close() })
	testutil.Eventually(t, 20*time.Second, func() error {
		services, err := only.GetService(ctx, "clustered")
		if err != nil {
			return err
		}
		if n := len(services[0].Nodes); n != 2 {
			return fmt.Errorf("the restarted member has %d nodes, want the 2 written while it was down", n)
		}
		return nil
	})
}

// TestClusterPlacementWaits creates the registry bucket with 3 replicas
// while only two members of three have started: JetStream cannot place it,
// and New asks again until the third is up, instead of failing as it did
// when members that had just started together had not all reported in.
func TestClusterPlacementWaits(t *testing.T) {
	c := testenv.NewPartialNATSCluster(t, 3, 2)
	ctx := testContext(t)

	type opened struct {
		reg *natsregistry.Registry
		err error
	}
	done := make(chan opened, 1)
	go func() {
		reg, err := natsregistry.New(ctx, natsregistry.WithURL(c.Members[0].URL()), natsregistry.WithReplicas(3))
		done <- opened{reg, err}
	}()
	select {
	case o := <-done:
		t.Fatalf("New returned while two of three members ran: %v", o.err)
	case <-time.After(time.Second):
	}
	c.Members[2].Restart(t)
	select {
	case o := <-done:
		if o.err != nil {
			t.Fatal(o.err)
		}
		t.Cleanup(func() { o.reg.Close() })
		if have := o.reg.Replicas(); have != 3 {
			t.Errorf("registry bucket: want 3 replicas, have %d", have)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("New still waiting 20s after the third member started")
	}
}
