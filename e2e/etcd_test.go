package e2e

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/internal/testutil"
)

func etcdBackend(t *testing.T) (backend, *testenv.EtcdServer) {
	server := testenv.Etcd(t)
	return backend{name: "etcd", env: []string{"MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS=" + server.Addr()}}, server
}

// etcdClient is a plain etcd client, writing keys the way other frameworks
// do.
func etcdClient(t *testing.T, addr string) *clientv3.Client {
	t.Helper()
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{addr}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func etcdPut(t *testing.T, c *clientv3.Client, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, key, value); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

// TestEtcdRegistry: two greeters listed 2/2, kill -9 of one gone within its
// TTL, register/deregister by hand; the scenario every registry passes.
func TestEtcdRegistry(t *testing.T) {
	b, _ := etcdBackend(t)
	runRegistryScenario(t, b)
}

// TestEtcdFailoverAndWipe: calls fail over from a greeter killed with -9
// (still registered until its lease expires), which etcd removes within its
// TTL; then etcd is stopped and started again with its data wiped, and the
// greeters register again within one heartbeat, with no action from anyone.
// The times are taken with an etcd client in the test, not by running
// micro, whose start-up (a -race build) would be part of them.
func TestEtcdFailoverAndWipe(t *testing.T) {
	b, server := etcdBackend(t)
	// A TTL long enough for many calls to meet the dead node.
	const ttl = 8 * time.Second
	ttlVar := "MICRO_REGISTER_TTL=" + ttl.String()
	victim := startGreeter(t, b, ttlVar)
	startGreeter(t, b, ttlVar)
	startGreeter(t, b, ttlVar)
	waitForNodes(t, b, 3)
	services, res := getService(t, b, "greeter")
	for _, n := range services[0].Nodes {
		if n.Metadata["registry-layout"] != "micro" {
			t.Errorf("node %s: want registry-layout micro, have %q (%s)", n.ID, n.Metadata["registry-layout"], res)
		}
	}
	victimID := greeterID(t, victim)
	c := etcdClient(t, server.Addr())

	// Watch for the victim's key to go, from before the kill.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	deleted := make(chan time.Time, 1)
	watch := c.Watch(ctx, "/micro/services/greeter/"+victimID)
	killed := time.Now()
	victim.signal(syscall.SIGKILL)
	go func() {
		for resp := range watch {
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					deleted <- time.Now()
					return
				}
			}
		}
	}()

	// Every call succeeds, those that pick the dead node by failing over.
	environ := callEnv(b, t.TempDir())
	var gone time.Duration
	whileRegistered := 0
	for i := 0; gone == 0; i++ {
		res := micro(t, environ, "call", "greeter", "Greeter.Hello", fmt.Sprintf(`{"name":"call %d"}`, i), "-o", "json")
		if res.code != 0 || !strings.Contains(res.stdout, fmt.Sprintf("Hello call %d", i)) {
			t.Fatalf("call %d after kill -9 of one node failed: %s", i, res)
		}
		select {
		case at := <-deleted:
			gone = at.Sub(killed)
		default:
			whileRegistered++
			if time.Since(killed) > ttl+20*time.Second {
				t.Fatalf("the killed node's key %s was not deleted %s after kill -9", victimID, time.Since(killed))
			}
		}
	}
	t.Logf("etcd: %d calls succeeded while the killed node was registered; its key was deleted %s after kill -9 (TTL %s)",
		whileRegistered, gone.Round(10*time.Millisecond), ttl)
	if whileRegistered < 5 {
		t.Errorf("only %d calls ran while the dead node was registered: too few to show failover", whileRegistered)
	}
	if gone < ttl-time.Second || gone > ttl+3*time.Second {
		t.Errorf("the killed node was removed %s after kill -9; want about its TTL of %s", gone, ttl)
	}
	if services, res := getService(t, b, "greeter"); countNodes(services) != 2 {
		t.Errorf("want 2 nodes once the lease of the killed one expired: %s", res)
	}

	server.Stop()
	down := micro(t, env(b.env...), "list", "services")
	assertCleanError(t, down, 1, "cannot reach etcd at "+server.Addr())
	server.Start(t)
	// Start kept the data; now wipe it: every key, lease and revision gone.
	stopped := time.Now()
	server.Restart(t, true)
	restarted := time.Now()
	testutil.Eventually(t, greeterInterval+10*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		resp, err := c.Get(ctx, "/micro/services/greeter/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		if resp.Count != 2 {
			return fmt.Errorf("%d greeter keys in etcd, want 2", resp.Count)
		}
		return nil
	})
	took := time.Since(restarted)
	t.Logf("etcd: greeters registered again %s after etcd came back with its data wiped (%s after it was stopped; heartbeat interval %s)",
		took.Round(10*time.Millisecond), time.Since(stopped).Round(10*time.Millisecond), greeterInterval)
	if took > 2*greeterInterval+time.Second {
		t.Errorf("re-registration took %s, more than one heartbeat interval (%s) plus the time to ask", took, greeterInterval)
	}
	if services, res := getService(t, b, "greeter"); countNodes(services) != 2 {
		t.Errorf("micro get service after the wipe: %s", res)
	}
	if res := micro(t, environ, "call", "greeter", "Greeter.Hello", `{"name":"again"}`, "-o", "json"); res.code != 0 {
		t.Errorf("call after the wipe: %s", res)
	}
}

// greeterID is the node ID a greeter logged when it started.
func greeterID(t *testing.T, p *process) string {
	t.Helper()
	var id string
	testutil.Eventually(t, 10*time.Second, func() error {
		for _, line := range strings.Split(p.Output(), "\n") {
			if !strings.Contains(line, `msg="service started"`) {
				continue
			}
			for _, field := range strings.Fields(line) {
				if v, ok := strings.CutPrefix(field, "id="); ok {
					id = v
					return nil
				}
			}
		}
		return fmt.Errorf("greeter has not logged its id: %s", p.Output())
	})
	return id
}

// TestEtcdForeignRecords: records that go-micro, kratos and go-zero wrote
// into etcd are listed with their versions and metadata, say which layout
// they came from, and the kratos and go-zero ones pointing at a running
// greeter are called by name.
func TestEtcdForeignRecords(t *testing.T) {
	b, server := etcdBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	services, _ := getService(t, b, "greeter")
	greeterAddr := services[0].Nodes[0].Address

	c := etcdClient(t, server.Addr())
	etcdPut(t, c, "/micro/registry/go.micro.srv.legacy/legacy-1", `{"name":"go.micro.srv.legacy","version":"2.3.4",
		"metadata":{"owner":"legacy-team"},
		"endpoints":[{"name":"Legacy.Call","request":{"name":"Request","type":"Request"},"response":{"name":"Response","type":"Response"},"metadata":{"stream":"false"}}],
		"nodes":[{"id":"legacy-1","address":"127.0.0.1:7001","metadata":{"protocol":"mucp","server":"mucp","transport":"http","registry":"etcd"}}]}`)
	etcdPut(t, c, "/microservices/shop/inst-1", fmt.Sprintf(`{"id":"inst-1","name":"shop","version":"v1.4.0",
		"metadata":{"region":"eu"},"endpoints":["http://127.0.0.1:1","grpc://%s?isSecure=false"]}`, greeterAddr))
	etcdPut(t, c, "/microservices/web/web-1", `{"id":"web-1","name":"web","version":"v2","endpoints":["http://127.0.0.1:8001"]}`)
	etcdPut(t, c, "zero.rpc/7587869723458765", greeterAddr)

	list := micro(t, env(b.env...), "list", "services")
	for _, want := range []string{"go.micro.srv.legacy\t2.3.4\t1/1", "shop\tv1.4.0\t1/1", "web\tv2\t1/1", "zero.rpc\t-\t1/1", "greeter\t1.0.0\t1/1"} {
		if !strings.Contains(list.stdout, want) {
			t.Errorf("list services should show %q:\n%s", want, list)
		}
	}

	for _, c := range []struct {
		name, layout, version, address string
		metadata                       map[string]string
	}{
		{"go.micro.srv.legacy", "gomicro", "2.3.4", "127.0.0.1:7001", map[string]string{"protocol": "mucp", "registry": "etcd"}},
		{"shop", "kratos", "v1.4.0", greeterAddr, map[string]string{"region": "eu", "protocol": "grpc"}},
		{"web", "kratos", "v2", "127.0.0.1:8001", map[string]string{"protocol": "http"}},
		{"zero.rpc", "gozero", "", greeterAddr, map[string]string{"protocol": "grpc"}},
	} {
		services, res := getService(t, b, c.name)
		if countNodes(services) != 1 {
			t.Errorf("get service %s: want one node: %s", c.name, res)
			continue
		}
		svc, n := services[0], services[0].Nodes[0]
		if svc.Version != c.version || n.Address != c.address || n.Metadata["registry-layout"] != c.layout {
			t.Errorf("get service %s: want version %q, address %s, layout %s: %s", c.name, c.version, c.address, c.layout, res.stdout)
		}
		for k, v := range c.metadata {
			if n.Metadata[k] != v {
				t.Errorf("get service %s: metadata %s: want %q, have %q", c.name, k, v, n.Metadata[k])
			}
		}
	}
	legacy, _ := getService(t, b, "go.micro.srv.legacy")
	if len(legacy) == 1 && (legacy[0].Metadata["owner"] != "legacy-team" || len(legacy[0].Endpoints) != 1) {
		t.Errorf("go-micro service metadata and endpoints: %+v", legacy[0])
	}

	environ := callEnv(b, t.TempDir())
	for _, name := range []string{"shop", "zero.rpc"} {
		res := micro(t, environ, "call", name, "Greeter.Hello", `{"name":"`+name+`"}`, "-o", "json")
		if res.code != 0 || res.stdout != `{"message":"Hello `+name+`"}`+"\n" {
			t.Errorf("call %s (a foreign record pointing at the greeter): %s", name, res)
		}
	}

	// --etcd-layout limits what is read.
	only := micro(t, env(b.env...), "list", "services", "--etcd-layout", "micro,kratos")
	if only.code != 0 || strings.Contains(only.stdout, "zero.rpc") || strings.Contains(only.stdout, "go.micro.srv.legacy") || !strings.Contains(only.stdout, "shop\t") {
		t.Errorf("--etcd-layout micro,kratos should list shop and greeter only:\n%s", only)
	}
	viaEnv := micro(t, env(append(b.env, "MICRO_ETCD_LAYOUT=gozero")...), "list", "services")
	if viaEnv.code != 0 || strings.TrimSpace(viaEnv.stdout) != "zero.rpc\t-\t1/1" {
		t.Errorf("MICRO_ETCD_LAYOUT=gozero should list zero.rpc only:\n%s", viaEnv)
	}
	bad := micro(t, env(b.env...), "list", "services", "--etcd-layout", "zookeeper")
	assertCleanError(t, bad, 2, `unknown layout "zookeeper"`)
}

// TestEtcdWatchForeign: micro watch reports records the other frameworks
// write, with their layout.
func TestEtcdWatchForeign(t *testing.T) {
	b, server := etcdBackend(t)
	watch := start(t, env(b.env...), microBin, "watch", "-o", "json")
	time.Sleep(time.Second) // let the watch read the registry first
	c := etcdClient(t, server.Addr())
	etcdPut(t, c, "/microservices/shop/inst-1", `{"id":"inst-1","name":"shop","version":"v1","endpoints":["grpc://127.0.0.1:9000"]}`)
	etcdPut(t, c, "orders.rpc/42", "127.0.0.1:9001")
	testutil.Eventually(t, 20*time.Second, func() error {
		out := watch.Output()
		for _, want := range []string{`"name":"shop"`, `"registry-layout":"kratos"`, `"name":"orders.rpc"`, `"registry-layout":"gozero"`} {
			if !strings.Contains(out, want) {
				return fmt.Errorf("micro watch has not shown %s yet:\n%s", want, out)
			}
		}
		return nil
	})
}

// TestEtcdBadInput: an unreachable etcd, wrong credentials and a malformed
// record each give one readable line.
func TestEtcdBadInput(t *testing.T) {
	t.Run("unreachable", func(t *testing.T) {
		addr := freeAddr(t)
		start := time.Now()
		res := micro(t, env("MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS="+addr), "list", "services")
		took := time.Since(start)
		assertCleanError(t, res, 1, "cannot reach etcd at "+addr, "connection refused", "--registry-address")
		if took > 5*time.Second {
			t.Errorf("an unreachable etcd took %s to report", took)
		}
		other := freeAddr(t)
		res = micro(t, env("MICRO_REGISTRY=etcd", "MICRO_REGISTRY_ADDRESS="+addr+","+other), "get", "service", "greeter")
		assertCleanError(t, res, 1, "cannot reach etcd at "+addr+","+other)
	})

	t.Run("credentials", func(t *testing.T) {
		b, server := etcdBackend(t)
		server.EnableAuth(t, "s3cret")
		res := micro(t, env(append(b.env, "MICRO_REGISTRY_USER=root", "MICRO_REGISTRY_PASSWORD=wrong")...), "list", "services")
		assertCleanError(t, res, 1, "etcd authentication failed", `user "root"`, server.Addr())
		res = micro(t, env(b.env...), "list", "services")
		assertCleanError(t, res, 1, "etcd authentication failed", "no user was given")
		res = micro(t, env(b.env...), "--registry-user", "root", "--registry-password", "s3cret", "list", "services")
		if res.code != 0 {
			t.Errorf("the right credentials by flag: %s", res)
		}
		// A greeter with the credentials in its environment registers.
		startGreeter(t, b, "MICRO_REGISTRY_USER=root", "MICRO_REGISTRY_PASSWORD=s3cret")
		testutil.Eventually(t, 30*time.Second, func() error {
			res := micro(t, env(append(b.env, "MICRO_REGISTRY_USER=root", "MICRO_REGISTRY_PASSWORD=s3cret")...), "list", "services")
			if !strings.Contains(res.stdout, "greeter\t1.0.0\t1/1") {
				return fmt.Errorf("greeter not registered with credentials: %s", res)
			}
			return nil
		})
		res = micro(t, env(append(b.env, "MICRO_REGISTRY_USER=root")...), "list", "services")
		assertCleanError(t, res, 2, "both a user and a password")
	})

	t.Run("malformed record", func(t *testing.T) {
		b, server := etcdBackend(t)
		startGreeter(t, b)
		waitForNodes(t, b, 1)
		c := etcdClient(t, server.Addr())
		etcdPut(t, c, "/micro/services/greeter/broken", "{not json")
		etcdPut(t, c, "/microservices/shop/bad", `{"id":"bad","name":"shop","endpoints":[]}`)
		res := micro(t, env(b.env...), "list", "services")
		if res.code != 0 || !strings.Contains(res.stdout, "greeter\t1.0.0\t1/1") {
			t.Fatalf("a malformed record must not fail the list: %s", res)
		}
		warnings := strings.Split(strings.TrimSpace(res.stderr), "\n")
		if len(warnings) != 2 || !strings.Contains(res.stderr, `key "/micro/services/greeter/broken"`) || !strings.Contains(res.stderr, `key "/microservices/shop/bad"`) {
			t.Errorf("want one warning line per malformed record, have:\n%s", res.stderr)
		}
		for _, line := range warnings {
			if !strings.HasPrefix(line, "micro: warning: etcd registry: skipped the ") {
				t.Errorf("warning line %q", line)
			}
		}
		services, res := getService(t, b, "greeter")
		if countNodes(services) != 1 || strings.Count(res.stderr, "skipped") != 1 {
			t.Errorf("get service: want the good node and one warning: %s", res)
		}
	})
}
