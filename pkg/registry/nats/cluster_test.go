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

// TestWatchAcrossLeaderKill kills with SIGKILL the member that leads the
// bucket's stream and that the watch and a heartbeating service are
// connected to (the first of their addresses). The members run in child
// processes (this test binary, see TestMain) so that the kill is a real
// one: no leader hand-over, the other two elect a new leader after
// seconds, longer than the TTL. The service heartbeats as pkg/service
// does, retrying its failed writes. The watch must report no delete of
// the node, and must report a node registered afterwards.
func TestWatchAcrossLeaderKill(t *testing.T) {
	const (
		ttl      = 2 * time.Second
		interval = 500 * time.Millisecond
	)
	members := startMemberProcesses(t, 3)
	urls := make([]string, len(members))
	for i, m := range members {
		urls[i] = m.url()
	}
	all := strings.Join(urls, ",")
	setup := openRegistry(t, all, natsregistry.WithReplicas(3))
	_, js := bareJetStream(t, all)
	svc := service("sturdy", "sturdy-1", "127.0.0.1:1001")
	register(t, setup, svc, registry.WithTTL(ttl))
	var leader *memberProcess
	testutil.Eventually(t, 20*time.Second, func() error {
		name, err := leaderName(js)
		if err != nil {
			return err
		}
		for _, m := range members {
			if m.name == name {
				leader = m
				return nil
			}
		}
		return fmt.Errorf("stream %s: leader %q is none of the members", registryStream, name)
	})
	first := []string{leader.url()}
	for _, m := range members {
		if m != leader {
			first = append(first, m.url())
		}
	}
	leaderFirst := strings.Join(first, ",")

	watcher := openRegistry(t, leaderFirst, natsregistry.WithReconnectWait(100*time.Millisecond))
	beater := openRegistry(t, leaderFirst, natsregistry.WithReconnectWait(100*time.Millisecond))
	// A watch with no deadline, as the selector's: the test outlasts
	// testContext.
	watchCtx, stopWatch := context.WithCancel(context.Background())
	t.Cleanup(stopWatch)
	w, err := watcher.Watch(watchCtx, registry.WatchService("sturdy"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	events := record(w)

	// The heartbeat of pkg/service: every interval, a failed one retried
	// after a quarter of the interval, doubling up to the interval.
	ctx, cancel := context.WithCancel(context.Background())
	var beats sync.WaitGroup
	beats.Add(1)
	go func() {
		defer beats.Done()
		retry := interval / 4
		for ctx.Err() == nil {
			callCtx, callCancel := context.WithTimeout(ctx, time.Second)
			err := beater.Register(callCtx, svc, registry.WithTTL(ttl))
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
	}()
	t.Cleanup(func() {
		cancel()
		beats.Wait()
	})
	time.Sleep(2 * interval)

	leader.kill(t)
	killed := time.Now()
	testutil.Eventually(t, 30*time.Second, func() error {
		name, err := leaderName(js)
		if err == nil && name == leader.name {
			return fmt.Errorf("the killed %s still leads", name)
		}
		return err
	})
	t.Logf("a new leader of %s answered %s after the kill", registryStream, time.Since(killed).Round(time.Millisecond))
	// A few TTLs with the new leader: the heartbeats go on through it.
	time.Sleep(3 * ttl)
	register(t, beater, service("sturdy", "sturdy-2", "127.0.0.1:1002"), registry.WithTTL(time.Minute))
	testutil.Eventually(t, 10*time.Second, func() error {
		events.mu.Lock()
		defer events.mu.Unlock()
		for _, ev := range events.events {
			if ev.Type == registry.EventCreate && ev.Service.Nodes[0].ID == "sturdy-2" {
				return nil
			}
		}
		return fmt.Errorf("no create of sturdy-2 yet")
	})
	if deletes := events.deletes(); len(deletes) > 0 {
		t.Fatalf("the watch reported a node gone whose service kept heartbeating across the kill of the stream's leader %s (at %s):\n%s",
			leader.name, killed.Format("15:04:05.000"), strings.Join(deletes, "\n"))
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
	cmd          *exec.Cmd
	stdin        io.Closer
	stderr       *testutil.SyncBuffer
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

// startMemberProcesses starts n cluster members in child processes on free
// loopback ports and waits until each accepts clients. They end with t.
func startMemberProcesses(t *testing.T, n int) []*memberProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	specs := make([]memberSpec, n)
	var routes []string
	for i := range specs {
		specs[i] = memberSpec{Name: fmt.Sprintf("member-%d", i), Client: freeAddr(t), Route: freeAddr(t), DataDir: t.TempDir()}
		routes = append(routes, specs[i].Route)
	}
	members := make([]*memberProcess, n)
	ready := make(chan error, n)
	for i := range specs {
		specs[i].Routes = routes
		spec, err := json.Marshal(specs[i])
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), memberEnv+"="+string(spec))
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		m := &memberProcess{name: specs[i].Name, client: specs[i].Client, cmd: cmd, stdin: stdin, stderr: &testutil.SyncBuffer{}}
		cmd.Stderr = m.stderr
		if err := cmd.Start(); err != nil {
			t.Fatalf("start member %s: %v", m.name, err)
		}
		members[i] = m
		t.Cleanup(func() {
			_ = m.stdin.Close()
			done := make(chan struct{})
			go func() { _ = m.cmd.Wait(); close(done) }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				_ = m.cmd.Process.Kill()
				<-done
			}
		})
		go func() {
			line, err := bufio.NewReader(stdout).ReadString('\n')
			if err == nil && line != "ready\n" {
				err = fmt.Errorf("printed %q", line)
			}
			if err != nil {
				err = fmt.Errorf("member %s: %w: %s", m.name, err, m.stderr.String())
			}
			ready <- err
			_, _ = io.Copy(io.Discard, stdout)
		}()
	}
	timeout := time.After(60 * time.Second)
	for range n {
		select {
		case err := <-ready:
			if err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatal("the cluster members did not start within 60s")
		}
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
