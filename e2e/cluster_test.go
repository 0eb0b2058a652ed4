package e2e

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/broker"
	natsbroker "github.com/microtools/micro/pkg/broker/nats"
	"github.com/microtools/micro/pkg/natsserver"
	"github.com/microtools/micro/pkg/registry"
	consulregistry "github.com/microtools/micro/pkg/registry/consul"
	etcdregistry "github.com/microtools/micro/pkg/registry/etcd"
)

// The cluster tests run three greeters and 20 callers (startLoad, through
// the registry) against a three-member cluster of NATS (`micro server`
// processes), Consul or etcd, kill -9 the member that matters (the one
// everybody is connected to, or the leader) and check that no call fails,
// that the greeters' heartbeats keep their records alive through another
// member for several TTLs, and that a fresh `micro get service` against a
// surviving member lists every node. Each test is bounded to about a
// minute.

// clusterOutage is how long the tests keep running after the kill: several
// greeter TTLs, so that records live only if heartbeats reach a member.
const clusterOutage = 3 * greeterTTL

// microMember is one `micro server` process of a NATS cluster.
type microMember struct {
	addr, routeAddr, dataDir string
	routes                   []string
	proc                     *process
}

func (m *microMember) args() []string {
	return []string{"server", "--address", m.addr, "--data-dir", m.dataDir,
		"--cluster-name", "e2e", "--cluster-address", m.routeAddr, "--routes", strings.Join(m.routes, ",")}
}

func (m *microMember) start(t *testing.T) {
	t.Helper()
	m.proc = start(t, env(), microBin, m.args()...)
}

func (m *microMember) url() string { return "nats://" + m.addr }

// waitOutput waits until p has printed want.
func waitOutput(t *testing.T, p *process, want string, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		if !strings.Contains(p.Output(), want) {
			return fmt.Errorf("waiting for %q in: %q", want, p.Output())
		}
		return nil
	})
}

// startMicroCluster runs three `micro server` processes forming a cluster
// on free loopback ports and waits until each has its registry bucket.
func startMicroCluster(t *testing.T) []*microMember {
	t.Helper()
	members := make([]*microMember, 3)
	var routes []string
	for i := range members {
		members[i] = &microMember{addr: freeAddr(t), routeAddr: freeAddr(t), dataDir: t.TempDir()}
		routes = append(routes, members[i].routeAddr)
	}
	for _, m := range members {
		m.routes = routes
		m.start(t)
	}
	for _, m := range members {
		waitOutput(t, m.proc, "cluster ready, registry bucket micro_registry with 3 replicas", 45*time.Second)
	}
	return members
}

func urlsOf(members []*microMember) string {
	urls := make([]string, len(members))
	for i, m := range members {
		urls[i] = m.url()
	}
	return strings.Join(urls, ",")
}

// assertFreshList checks, with new `micro` processes against env alone,
// that `get service greeter` has want nodes and `list services` says
// want/want.
func assertFreshList(t *testing.T, environ []string, want int, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		b := backend{env: environ}
		services, res := getService(t, b, "greeter")
		if n := countNodes(services); n != want {
			return fmt.Errorf("get service greeter: %d nodes, want %d: %s", n, want, res)
		}
		list := micro(t, env(environ...), "list", "services")
		if n := countIn(list.stdout, "greeter\t", fmt.Sprintf("\t%d/%d", want, want)); n != 1 {
			return fmt.Errorf("list services: want a greeter line with %d/%d: %s", want, want, list)
		}
		return nil
	})
}

// heartbeatsSurvive waits clusterOutage with the load running, then checks
// that r still lists every greeter: the records outlived several TTLs, so
// the greeters' heartbeats reached a surviving member.
func heartbeatsSurvive(t *testing.T, l *load, r registry.Registry) {
	t.Helper()
	before := l.ok.Load()
	time.Sleep(clusterOutage)
	if n := l.ok.Load() - before; n < 200 {
		t.Errorf("only %d calls succeeded in the %s after the kill", n, clusterOutage)
	}
	waitNodes(t, r, 3, 15*time.Second)
}

// countIn counts the lines of output that hold all of words.
func countIn(output string, words ...string) int {
	n := 0
	for line := range strings.SplitSeq(output, "\n") {
		all := true
		for _, w := range words {
			all = all && strings.Contains(line, w)
		}
		if all {
			n++
		}
	}
	return n
}

// TestClusterNATS kills with SIGKILL the member of a three-member `micro
// server` cluster that the greeters, the callers and a durable subscriber
// are connected to (the first of their addresses).
func TestClusterNATS(t *testing.T) {
	// The leader of the registry bucket's stream goes first in everybody's
	// addresses and is the one killed: the stream has to elect a new
	// leader (seconds, longer than the greeters' TTL) while no heartbeat
	// can be written.
	members := registryLeaderFirst(t, startMicroCluster(t))
	victim := members[0]
	urls := urlsOf(members)
	b := backend{name: "nats", env: []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + urls}}
	greeters := []*process{startGreeter(t, b), startGreeter(t, b), startGreeter(t, b)}
	r := natsRegistry(t, urls)
	waitNodes(t, r, 3, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Second)
	defer cancel()
	sub, pub := clusterBroker(t, ctx, urls), clusterBroker(t, ctx, urls)
	const topic, total = "cluster.orders", 1000
	var mu sync.Mutex
	seen := map[string]int{}
	if _, err := sub.Subscribe(ctx, topic, broker.HandlerFunc(func(_ context.Context, msg *broker.Message) error {
		mu.Lock()
		seen[string(msg.Body)]++
		mu.Unlock()
		return nil
	}), broker.Durable("cluster"), broker.CreateStream()); err != nil {
		t.Fatal(err)
	}
	received := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(seen)
	}
	publish := func(i int) {
		deadline := time.Now().Add(20 * time.Second)
		for {
			pctx, pcancel := context.WithTimeout(ctx, 2*time.Second)
			err := pub.Publish(pctx, topic, &broker.Message{Body: []byte(strconv.Itoa(i))}, broker.JetStream(), broker.CreateStream())
			pcancel()
			if err == nil {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("publish %d: not acknowledged within 20s: %v", i, err)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	assertReplicas(t, ctx, urls, natsbroker.StreamName(topic))

	l := startLoad(t, newClient(t, r))
	l.waitCalls(t, 300, 30*time.Second)
	for i := range total / 2 {
		publish(i)
	}

	victim.proc.signal(syscall.SIGKILL)
	victim.proc.wait(t, 10*time.Second)
	killed := time.Now()
	for i := total / 2; i < total; i++ {
		publish(i)
	}
	t.Logf("second half of %d messages published within %s of the kill", total/2, time.Since(killed).Round(time.Millisecond))

	heartbeatsSurvive(t, l, r)
	survivors := []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + members[1].url()}
	assertFreshList(t, survivors, 3, 15*time.Second)

	testutil.Eventually(t, 30*time.Second, func() error {
		if n := received(); n < total {
			return fmt.Errorf("%d of %d distinct messages received", n, total)
		}
		return nil
	})
	mu.Lock()
	var missing []string
	for i := range total {
		if seen[strconv.Itoa(i)] == 0 {
			missing = append(missing, strconv.Itoa(i))
		}
	}
	mu.Unlock()
	if len(missing) > 0 {
		t.Errorf("the durable subscriber missed %d of %d messages: %s", len(missing), total, strings.Join(missing, " "))
	}

	// The member restarts on its ports and store and rejoins: a client of
	// it alone sees the records written while it was down.
	victim.start(t)
	waitOutput(t, victim.proc, "cluster ready", 45*time.Second)
	assertFreshList(t, []string{"MICRO_REGISTRY=nats", "MICRO_REGISTRY_ADDRESS=" + victim.url()}, 3, 20*time.Second)

	l.waitCalls(t, 200, 20*time.Second)
	l.stop()
	l.assertNoFailures(t)
	for i, g := range greeters {
		if n := countIn(g.Output(), "nats registry: reconnected to"); n != 1 {
			t.Errorf("greeter %d reported its registry reconnecting %d times, want once:\n%s", i, n, g.Output())
		}
	}
}

// registryLeaderFirst returns members with the leader of the registry
// bucket's stream first.
func registryLeaderFirst(t *testing.T, members []*microMember) []*microMember {
	t.Helper()
	js, err := jetstream.New(bareClient(t, members[0].addr))
	if err != nil {
		t.Fatal(err)
	}
	var first []*microMember
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, "KV_micro_registry")
		if err != nil {
			return err
		}
		var leader string
		if c := s.CachedInfo().Cluster; c != nil {
			leader = c.Leader
		}
		for i, m := range members {
			if natsserver.MemberName(m.routeAddr) == leader {
				first = append([]*microMember{m}, slices.Delete(slices.Clone(members), i, i+1)...)
				return nil
			}
		}
		return fmt.Errorf("stream KV_micro_registry: leader %q is none of the members", leader)
	})
	return first
}

func clusterBroker(t *testing.T, ctx context.Context, urls string) *natsbroker.Broker {
	t.Helper()
	b, err := natsbroker.New(ctx, natsbroker.WithURL(urls), natsbroker.WithReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// assertReplicas checks that the registry bucket and the stream have 3
// replicas.
func assertReplicas(t *testing.T, ctx context.Context, urls, stream string) {
	t.Helper()
	nc := bareClient(t, strings.TrimPrefix(strings.Split(urls, ",")[0], "nats://"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"KV_micro_registry", stream} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Fatalf("stream %s: %v", name, err)
		}
		if have := s.CachedInfo().Config.Replicas; have != 3 {
			t.Errorf("stream %s: want 3 replicas, have %d", name, have)
		}
	}
}

// TestClusterConsul kills with SIGKILL the leader of a three-server Consul
// cluster, the agent that the greeters and callers talk to first.
func TestClusterConsul(t *testing.T) {
	c := testenv.NewConsulCluster(t, 3)
	leader := c.Leader()
	if leader == nil {
		t.Fatal("no consul leader")
	}
	addrs := []string{leader.Addr()}
	var survivor *testenv.ConsulServer
	for _, m := range c.Members {
		if m != leader {
			addrs = append(addrs, m.Addr())
			survivor = m
		}
	}
	list := strings.Join(addrs, ",")
	b := backend{name: "consul", env: []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + list}}
	greeters := []*process{startGreeter(t, b), startGreeter(t, b), startGreeter(t, b)}
	r, err := consulregistry.New(consulregistry.Address(list))
	if err != nil {
		t.Fatal(err)
	}
	waitNodes(t, r, 3, 30*time.Second)

	l := startLoad(t, newClient(t, r))
	l.waitCalls(t, 300, 30*time.Second)
	leader.Kill()
	killed := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		if now := c.Leader(); now == nil || now == leader {
			return fmt.Errorf("no new leader yet")
		}
		return nil
	})
	t.Logf("new leader %s elected within %s of the kill", c.Leader().Node(), time.Since(killed).Round(time.Millisecond))

	heartbeatsSurvive(t, l, r)
	assertFreshList(t, []string{"MICRO_REGISTRY=consul", "MICRO_REGISTRY_ADDRESS=" + survivor.Addr()}, 3, 20*time.Second)
	l.waitCalls(t, 200, 20*time.Second)
	l.stop()
	l.assertNoFailures(t)
	for i, g := range greeters {
		if n := countIn(g.Output(), "consul agent "+leader.Addr()+" unreachable"); n != 1 {
			t.Errorf("greeter %d reported moving off the dead agent %d times, want once:\n%s", i, n, g.Output())
		}
	}
}

// TestClusterEtcd kills with SIGKILL the leader of a three-member etcd
// cluster, then starts it again.
func TestClusterEtcd(t *testing.T) {
	c := testenv.NewEtcdCluster(t, 3)
	leader := c.Leader()
	if leader == nil {
		t.Fatal("no etcd leader")
	}
	addrs := []string{leader.Addr()}
	var survivor *testenv.EtcdServer
	for _, m := range c.Members {
		if m != leader {
			addrs = append(addrs, m.Addr())
			survivor = m
		}
	}
	list := strings.Join(addrs, ",")
	b := backend{name: "etcd", env: []string{"MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS=" + list}}
	for range 3 {
		startGreeter(t, b)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := etcdregistry.New(ctx, etcdregistry.WithEndpoints(list))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	waitNodes(t, r, 3, 30*time.Second)

	l := startLoad(t, newClient(t, r))
	l.waitCalls(t, 300, 30*time.Second)
	leader.Kill()
	killed := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		if now := c.Leader(); now == nil || now == leader {
			return fmt.Errorf("no new leader yet")
		}
		return nil
	})
	t.Logf("new leader elected within %s of the kill", time.Since(killed).Round(time.Millisecond))

	heartbeatsSurvive(t, l, r)
	assertFreshList(t, []string{"MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS=" + survivor.Addr()}, 3, 20*time.Second)

	leader.Start(t)
	assertFreshList(t, []string{"MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS=" + leader.Addr()}, 3, 20*time.Second)
	l.waitCalls(t, 200, 20*time.Second)
	l.stop()
	l.assertNoFailures(t)
}
