package nats_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
	"github.com/microtools/micro/pkg/natsserver"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// The cluster tests run a registry bucket with 3 replicas on a 3-member
// embedded NATS cluster and move the leader of its stream away while a
// watch runs: while the stream has no leader no heartbeat can be written,
// and a record that expires meanwhile is no sign that its node is gone.

const registryStream = "KV_" + natsregistry.DefaultBucket

// streamLeader returns the member that leads the registry bucket's stream.
func streamLeader(t *testing.T, c *testenv.NATSCluster, js jetstream.JetStream) *testenv.NATSMember {
	t.Helper()
	var leader *testenv.NATSMember
	testutil.Eventually(t, 20*time.Second, func() error {
		name, err := leaderName(js)
		if err != nil {
			return err
		}
		for _, m := range c.Members {
			if m.Name() == name {
				leader = m
				return nil
			}
		}
		return fmt.Errorf("stream %s: leader %q is no member of %s", registryStream, name, c.URLs())
	})
	return leader
}

func leaderName(js jetstream.JetStream) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	s, err := js.Stream(ctx, registryStream)
	if err != nil {
		return "", err
	}
	if s.CachedInfo().Cluster == nil || s.CachedInfo().Cluster.Leader == "" {
		return "", fmt.Errorf("stream %s has no leader", registryStream)
	}
	return s.CachedInfo().Cluster.Leader, nil
}

// bareJetStream is a plain connection to urls (no registry) for looking at
// the stream.
func bareJetStream(t *testing.T, urls string) (*natsgo.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := natsgo.Connect(urls, natsgo.MaxReconnects(-1), natsgo.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// recorder collects the events of a watch in the background.
type recorder struct {
	mu     sync.Mutex
	events []*registry.Event
	done   chan struct{}
}

func record(w registry.Watcher) *recorder {
	rec := &recorder{done: make(chan struct{})}
	go func() {
		defer close(rec.done)
		for {
			ev, err := w.Next()
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.events = append(rec.events, ev)
			rec.mu.Unlock()
		}
	}()
	return rec
}

// deletes returns the delete events seen so far, one line each.
func (r *recorder) deletes() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.Type == registry.EventDelete {
			out = append(out, fmt.Sprintf("%s delete of %s %s", ev.Timestamp.Format("15:04:05.000"), ev.Service.Name, ev.Service.Nodes[0].ID))
		}
	}
	return out
}

// TestWatchGivesATTLAfterLeaderChange moves the leadership of the bucket's
// stream (a step-down) just before a record expires and leaves out the
// heartbeats until a second after the expiry, as when a service's writes
// find no leader: the service heartbeats again within one TTL of the new
// leader taking over, so the watch must report no delete. Once the
// heartbeats stop for good, the node is reported gone.
func TestWatchGivesATTLAfterLeaderChange(t *testing.T) {
	const ttl = 4 * time.Second
	c := testenv.NewNATSCluster(t, 3)
	r := newRegistry(t, c.URLs(), natsregistry.WithReplicas(3), natsregistry.WithReconnectWait(100*time.Millisecond))
	nc, js := bareJetStream(t, c.URLs())
	svc := service("steady", "steady-1", "127.0.0.1:1001")
	register(t, r, svc, registry.WithTTL(ttl))
	before := streamLeader(t, c, js)

	w := watch(t, r, registry.WatchService("steady"))
	register(t, r, svc, registry.WithTTL(ttl))
	registered := time.Now()
	events := record(w)

	time.Sleep(ttl - 1500*time.Millisecond)
	resp, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+registryStream, nil, 5*time.Second)
	if err != nil {
		t.Fatalf("step down the leader of %s: %v", registryStream, err)
	}
	var reply struct {
		Error *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(resp.Data, &reply); err != nil || reply.Error != nil {
		t.Fatalf("step down the leader of %s: %s", registryStream, resp.Data)
	}
	testutil.Eventually(t, 10*time.Second, func() error {
		name, err := leaderName(js)
		if err != nil {
			return err
		}
		if name == before.Name() {
			return fmt.Errorf("%s still leads %s", name, registryStream)
		}
		return nil
	})
	if since := time.Since(registered); since >= ttl {
		t.Fatalf("the new leader took over %s after the heartbeat, past the %s TTL: the machine is too slow for this test", since.Round(time.Millisecond), ttl)
	}

	// The service comes back a second after its record expired, and
	// heartbeats every second from then on.
	time.Sleep(time.Until(registered.Add(ttl + time.Second)))
	for range 6 {
		register(t, r, svc, registry.WithTTL(ttl))
		time.Sleep(time.Second)
	}
	if deletes := events.deletes(); len(deletes) > 0 {
		t.Fatalf("the watch reported a node gone whose service heartbeats again within a TTL of the leader change:\n%s", strings.Join(deletes, "\n"))
	}

	// Heartbeats stop for good: the node goes, within about a TTL.
	stopped := time.Now()
	testutil.Eventually(t, 2*ttl+5*time.Second, func() error {
		if len(events.deletes()) == 0 {
			return fmt.Errorf("no delete %s after the last heartbeat", time.Since(stopped).Round(time.Millisecond))
		}
		return nil
	})
}

// memberCluster is a 3-member cluster in child processes with the
// registry bucket (3 replicas) made, and a connection for looking at it.
type memberCluster struct {
	members []*memberProcess
	js      jetstream.JetStream
}

func startMemberCluster(t *testing.T) *memberCluster {
	t.Helper()
	c := &memberCluster{members: startMemberProcesses(t, 3)}
	openRegistry(t, c.urls(nil), natsregistry.WithReplicas(3))
	_, c.js = bareJetStream(t, c.urls(nil))
	return c
}

// urls lists the members' URLs, first's before the others' (natsconn
// keeps the order: a client connects to first).
func (c *memberCluster) urls(first *memberProcess) string {
	var urls []string
	if first != nil {
		urls = append(urls, first.url())
	}
	for _, m := range c.members {
		if m != first {
			urls = append(urls, m.url())
		}
	}
	return strings.Join(urls, ",")
}

// leader is the member that leads the bucket's stream.
func (c *memberCluster) leader(t *testing.T) *memberProcess {
	t.Helper()
	var leader *memberProcess
	testutil.Eventually(t, 20*time.Second, func() error {
		name, err := leaderName(c.js)
		if err != nil {
			return err
		}
		for _, m := range c.members {
			if m.name == name {
				leader = m
				return nil
			}
		}
		return fmt.Errorf("stream %s: leader %q is none of the members", registryStream, name)
	})
	return leader
}

// watchLong starts a watch with no deadline, as the selector's (the
// cluster tests outlast testContext), and records its events.
func watchLong(t *testing.T, r registry.Registry, service string) *recorder {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	w, err := r.Watch(ctx, registry.WatchService(service))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	return record(w)
}

// heartbeat registers svc as pkg/service does until t ends: every
// interval, a failed write retried after a quarter of the interval,
// doubling up to the interval.
func heartbeat(t *testing.T, r registry.Registry, svc *registry.Service, ttl, interval time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var beats sync.WaitGroup
	beats.Go(func() {
		retry := interval / 4
		for ctx.Err() == nil {
			callCtx, callCancel := context.WithTimeout(ctx, time.Second)
			err := r.Register(callCtx, svc, registry.WithTTL(ttl))
			callCancel()
			next := interval
			if err != nil {
				next, retry = retry, min(retry*2, interval)
			} else {
				retry = interval / 4
			}
			select {
			case <-ctx.Done():
			case <-time.After(next):
			}
		}
	})
	t.Cleanup(func() {
		cancel()
		beats.Wait()
	})
}

// created waits until events hold a create of node id.
func (r *recorder) created(t *testing.T, id string, within time.Duration) {
	t.Helper()
	testutil.Eventually(t, within, func() error {
		r.mu.Lock()
		defer r.mu.Unlock()
		for _, ev := range r.events {
			if ev.Type == registry.EventCreate && ev.Service.Nodes[0].ID == id {
				return nil
			}
		}
		return fmt.Errorf("no create of %s yet", id)
	})
}

// TestWatchAcrossLeaderKill kills with SIGKILL the member that leads the
// bucket's stream and that the watch and a heartbeating service are
// connected to (the first of their addresses). The members run in child
// processes (this test binary, see TestMain) so that the kill is a real
// one: no leader hand-over, the other two elect a new leader after
// seconds, longer than the TTL. The service heartbeats as pkg/service
// does, retrying its failed writes. The watch must report no delete of
// the node, and must report a node registered afterwards.
func TestWatchAcrossLeaderKill(t *testing.T) {
	const ttl, interval = 2 * time.Second, 500 * time.Millisecond
	c := startMemberCluster(t)
	leader := c.leader(t)
	watcher := openRegistry(t, c.urls(leader), natsregistry.WithReconnectWait(100*time.Millisecond))
	beater := openRegistry(t, c.urls(leader), natsregistry.WithReconnectWait(100*time.Millisecond))
	svc := service("sturdy", "sturdy-1", "127.0.0.1:1001")
	register(t, beater, svc, registry.WithTTL(ttl))
	events := watchLong(t, watcher, "sturdy")
	heartbeat(t, beater, svc, ttl, interval)
	time.Sleep(2 * interval)

	leader.kill(t)
	killed := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		name, err := leaderName(c.js)
		if err == nil && name == leader.name {
			return fmt.Errorf("the killed %s still leads", name)
		}
		return err
	})
	t.Logf("a new leader of %s answered %s after the kill", registryStream, time.Since(killed).Round(time.Millisecond))
	// A few TTLs with the new leader: the heartbeats go on through it.
	time.Sleep(3 * ttl)
	register(t, beater, service("sturdy", "sturdy-2", "127.0.0.1:1002"), registry.WithTTL(time.Minute))
	events.created(t, "sturdy-2", 10*time.Second)
	if deletes := events.deletes(); len(deletes) > 0 {
		t.Fatalf("the watch reported a node gone whose service kept heartbeating across the kill of the stream's leader %s (at %s):\n%s",
			leader.name, killed.Format("15:04:05.000"), strings.Join(deletes, "\n"))
	}
}

// TestWatchWhileStreamHasNoLeader kills two of the three members, the
// stream's leader among them, for longer than an election: the member
// left cannot elect a leader, and once its election timer has fired it
// answers the stream's status itself, with no leader, while nothing can
// be written. A watch connected to it must report no node gone; once a
// killed member is back and a leader elected, the service heartbeats
// again and still no delete is reported.
func TestWatchWhileStreamHasNoLeader(t *testing.T) {
	const ttl, interval = 2 * time.Second, 500 * time.Millisecond
	started := time.Now()
	c := startMemberCluster(t)
	leader := c.leader(t)
	var survivor, other *memberProcess
	for _, m := range c.members {
		switch {
		case m == leader:
		case survivor == nil:
			survivor = m
		default:
			other = m
		}
	}
	watcher := openRegistry(t, c.urls(survivor), natsregistry.WithReconnectWait(100*time.Millisecond))
	beater := openRegistry(t, c.urls(survivor), natsregistry.WithReconnectWait(100*time.Millisecond))
	svc := service("lonely", "lonely-1", "127.0.0.1:1001")
	register(t, beater, svc, registry.WithTTL(ttl))
	events := watchLong(t, watcher, "lonely")
	heartbeat(t, beater, svc, ttl, interval)
	// A member answers for a leaderless stream only once its JetStream has
	// run for 10s (nats-server's startup threshold).
	time.Sleep(time.Until(started.Add(12 * time.Second)))

	leader.kill(t)
	other.kill(t)
	killed := time.Now()
	// Past the longest election timeout (9s), with a few TTLs to spare.
	testutil.Eventually(t, 20*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		s, err := c.js.Stream(ctx, registryStream)
		if err != nil {
			return err
		}
		if l := s.CachedInfo().Cluster.Leader; l != "" {
			return fmt.Errorf("the stream still names leader %s", l)
		}
		return nil
	})
	t.Logf("%s answered for %s with no leader %s after the kill", survivor.name, registryStream, time.Since(killed).Round(time.Millisecond))
	time.Sleep(3 * ttl)
	if deletes := events.deletes(); len(deletes) > 0 {
		t.Fatalf("the watch reported a node gone while the stream had no leader:\n%s", strings.Join(deletes, "\n"))
	}

	other.start(t)
	other.wait(t)
	testutil.Eventually(t, 30*time.Second, func() error {
		_, err := leaderName(c.js)
		return err
	})
	time.Sleep(3 * ttl)
	register(t, beater, service("lonely", "lonely-2", "127.0.0.1:1002"), registry.WithTTL(time.Minute))
	events.created(t, "lonely-2", 10*time.Second)
	if deletes := events.deletes(); len(deletes) > 0 {
		t.Fatalf("the watch reported a node gone whose service heartbeats again once the stream has a leader:\n%s", strings.Join(deletes, "\n"))
	}
}

// openRegistry is newRegistry, asked again while a fresh cluster is still
// electing the leader of its JetStream.
func openRegistry(t *testing.T, url string, opts ...natsregistry.Option) *natsregistry.Registry {
	t.Helper()
	var r *natsregistry.Registry
	testutil.Eventually(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		r, err = natsregistry.New(ctx, append([]natsregistry.Option{natsregistry.WithURL(url)}, opts...)...)
		return err
	})
	t.Cleanup(func() { _ = r.Close() })
	return r
}

// memberEnv, when set, makes the test binary run one cluster member
// (memberSpec as JSON) instead of the tests: TestMain.
const memberEnv = "MICRO_TEST_NATS_MEMBER"

type memberSpec struct {
	Name    string   `json:"name"`
	Client  string   `json:"client"`
	Route   string   `json:"route"`
	Routes  []string `json:"routes"`
	DataDir string   `json:"data_dir"`
}

func TestMain(m *testing.M) {
	if spec := os.Getenv(memberEnv); spec != "" {
		os.Exit(runMember(spec))
	}
	os.Exit(m.Run())
}

// runMember runs the member that spec describes until its stdin closes
// (the test ended) or it is killed.
func runMember(spec string) int {
	var ms memberSpec
	if err := json.Unmarshal([]byte(spec), &ms); err != nil {
		fmt.Fprintf(os.Stderr, "member: %s: %v\n", memberEnv, err)
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	srv, err := natsserver.Start(ctx, natsserver.Options{
		Address:    ms.Client,
		DataDir:    ms.DataDir,
		ServerName: ms.Name,
		Cluster:    natsserver.ClusterOptions{Name: "micro-test", Address: ms.Route, Routes: ms.Routes},
	})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "member %s: %v\n", ms.Name, err)
		return 1
	}
	fmt.Println("ready")
	_, _ = io.Copy(io.Discard, os.Stdin)
	srv.Shutdown()
	return 0
}

// memberProcess is a cluster member running in a child process.
type memberProcess struct {
	name, client string
	spec         []byte // memberSpec as JSON
	cmd          *exec.Cmd
	stdin        io.Closer
	stderr       *testutil.SyncBuffer
	ready        chan error
}

func (m *memberProcess) url() string { return "nats://" + m.client }

// kill sends SIGKILL and waits for the process to end.
func (m *memberProcess) kill(t *testing.T) {
	t.Helper()
	if err := m.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatalf("kill member %s: %v", m.name, err)
	}
	_ = m.cmd.Wait()
}

// start runs the member in a new child process (again after kill: same
// ports and store) and ends it with t; wait waits until it serves.
func (m *memberProcess) start(t *testing.T) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), memberEnv+"="+string(m.spec))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &testutil.SyncBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start member %s: %v", m.name, err)
	}
	m.cmd, m.stdin, m.stderr, m.ready = cmd, stdin, stderr, make(chan error, 1)
	t.Cleanup(func() {
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	ready := m.ready
	go func() {
		line, err := bufio.NewReader(stdout).ReadString('\n')
		if err == nil && line != "ready\n" {
			err = fmt.Errorf("printed %q", line)
		}
		if err != nil {
			err = fmt.Errorf("member %s: %w: %s", m.name, err, stderr.String())
		}
		ready <- err
		_, _ = io.Copy(io.Discard, stdout)
	}()
}

func (m *memberProcess) wait(t *testing.T) {
	t.Helper()
	select {
	case err := <-m.ready:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("member %s did not start within 60s", m.name)
	}
}

// startMemberProcesses starts n cluster members in child processes on free
// loopback ports and waits until each accepts clients. They end with t.
func startMemberProcesses(t *testing.T, n int) []*memberProcess {
	t.Helper()
	specs := make([]memberSpec, n)
	var routes []string
	for i := range specs {
		specs[i] = memberSpec{Name: fmt.Sprintf("member-%d", i), Client: freeAddr(t), Route: freeAddr(t), DataDir: t.TempDir()}
		routes = append(routes, specs[i].Route)
	}
	members := make([]*memberProcess, n)
	for i := range specs {
		specs[i].Routes = routes
		spec, err := json.Marshal(specs[i])
		if err != nil {
			t.Fatal(err)
		}
		members[i] = &memberProcess{name: specs[i].Name, client: specs[i].Client, spec: spec}
		members[i].start(t)
	}
	for _, m := range members {
		m.wait(t)
	}
	return members
}

// freeAddr is a loopback address with a port that was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}
