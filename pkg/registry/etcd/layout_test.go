package etcd_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/etcd"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

func TestParseLayouts(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    string
		wantErr bool
	}{
		{in: "micro,gomicro,kratos,gozero", want: "micro gomicro kratos gozero"},
		{in: " Kratos , micro,kratos", want: "kratos micro"},
		{in: "all", want: "micro gomicro kratos gozero"},
		{in: "", wantErr: true},
		{in: "consul", wantErr: true},
	} {
		have, err := etcd.ParseLayouts(c.in)
		if (err != nil) != c.wantErr {
			t.Errorf("ParseLayouts(%q): error %v, want error %v", c.in, err, c.wantErr)
			continue
		}
		var names []string
		for _, l := range have {
			names = append(names, string(l))
		}
		if got := strings.Join(names, " "); !c.wantErr && got != c.want {
			t.Errorf("ParseLayouts(%q): want %q, have %q", c.in, c.want, got)
		}
	}
}

func TestOptionsFail(t *testing.T) {
	for name, opt := range map[string]etcd.Option{
		"empty endpoints": etcd.WithEndpoints(" , "),
		"bad scheme":      etcd.WithEndpoints("ftp://x:1"),
		"bad port":        etcd.WithEndpoints("127.0.0.1:99999"),
		"user only":       etcd.WithAuth("root", ""),
		"cert only":       etcd.WithTLS(etcd.TLSOptions{CertFile: "c.pem"}),
		"prefix /":        etcd.WithPrefix("/"),
		"prefix overlaps": etcd.WithPrefix("/micro/registry/x"),
		"no layout":       etcd.WithLayouts(),
		"unknown layout":  etcd.WithLayouts("zookeeper"),
		"connect timeout": etcd.WithConnectTimeout(0),
		"TLS on http://": func(o *etcd.Options) error {
			if err := etcd.WithEndpoints("http://127.0.0.1:1")(o); err != nil {
				return err
			}
			return etcd.WithTLS(etcd.TLSOptions{InsecureSkipVerify: true})(o)
		},
	} {
		// A closed port first, so that nothing is dialled if an option
		// wrongly passes.
		if _, err := etcd.New(testContext(t), etcd.WithEndpoints(freeAddr(t)), opt); err == nil || !strings.Contains(err.Error(), "etcd registry") {
			t.Errorf("%s: want an etcd registry error, have %v", name, err)
		}
	}
}

// foreign writes one record of each other framework's layout.
type foreign struct {
	goMicro, kratos, kratosHTTP, goZero string
}

func writeForeign(t *testing.T, addr string) foreign {
	t.Helper()
	raw := rawClient(t, addr)
	f := foreign{
		goMicro:    registrytest.UniqueName(t, "go.micro.srv.legacy"),
		kratos:     registrytest.UniqueName(t, "kratos-app"),
		kratosHTTP: registrytest.UniqueName(t, "kratos-web"),
		goZero:     registrytest.UniqueName(t, "zero.rpc"),
	}
	put(t, raw, "/micro/registry/"+f.goMicro+"/"+f.goMicro+"-1", fmt.Sprintf(`{
		"name": %q, "version": "2.3.4", "metadata": {"owner": "legacy-team"},
		"endpoints": [{"name": "Legacy.Call", "request": {"name": "Request", "type": "Request", "values": [{"name": "id", "type": "string"}]},
		               "response": {"name": "Response", "type": "Response"}, "metadata": {"stream": "false"}}],
		"nodes": [{"id": %q, "address": "127.0.0.1:7001", "metadata": {"protocol": "mucp", "server": "mucp", "transport": "http", "registry": "etcd"}}]}`,
		f.goMicro, f.goMicro+"-1"))
	put(t, raw, "/microservices/"+f.kratos+"/inst-1", fmt.Sprintf(`{"id": "inst-1", "name": %q, "version": "v1.4.0",
		"metadata": {"region": "eu"}, "endpoints": ["http://127.0.0.1:8000", "grpc://127.0.0.1:9000?isSecure=false"]}`, f.kratos))
	put(t, raw, "/microservices/"+f.kratosHTTP+"/web-1", fmt.Sprintf(`{"id": "web-1", "name": %q, "version": "v2",
		"metadata": null, "endpoints": ["http://127.0.0.1:8001"]}`, f.kratosHTTP))
	put(t, raw, f.goZero+"/7587869723458765", "127.0.0.1:9100")
	// Not go-zero's: a value that is no address, a key without a number.
	put(t, raw, "config/"+f.goZero+"/1", "some setting")
	put(t, raw, f.goZero+"-settings/name", "127.0.0.1:1")
	return f
}

func node(t *testing.T, r registry.Registry, name string) (*registry.Service, *registry.Node) {
	t.Helper()
	got, err := r.GetService(testContext(t), name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	if len(got) != 1 || len(got[0].Nodes) != 1 {
		t.Fatalf("want one record with one node for %s, have %+v", name, got)
	}
	return got[0], got[0].Nodes[0]
}

func TestReadsOthers(t *testing.T) {
	server := testenv.Etcd(t)
	f := writeForeign(t, server.Addr())
	r := newRegistry(t, server.Addr())

	svc, n := node(t, r, f.goMicro)
	if svc.Version != "2.3.4" || svc.Metadata["owner"] != "legacy-team" || n.Address != "127.0.0.1:7001" ||
		n.Metadata["protocol"] != "mucp" || n.Metadata[etcd.MetadataLayout] != "gomicro" || n.Health != registry.HealthPassing {
		t.Errorf("go-micro record: %+v node %+v", svc, n)
	}
	if len(svc.Endpoints) != 1 || svc.Endpoints[0].Name != "Legacy.Call" || len(svc.Endpoints[0].Request.Values) != 1 {
		t.Errorf("go-micro endpoints: %+v", svc.Endpoints)
	}

	svc, n = node(t, r, f.kratos)
	if svc.Version != "v1.4.0" || n.ID != "inst-1" || n.Address != "127.0.0.1:9000" || n.Metadata["region"] != "eu" ||
		n.Metadata["protocol"] != "grpc" || n.Metadata[etcd.MetadataLayout] != "kratos" ||
		!strings.Contains(n.Metadata[etcd.MetadataKratosEndpoints], "http://127.0.0.1:8000") {
		t.Errorf("kratos record: %+v node %+v", svc, n)
	}
	_, n = node(t, r, f.kratosHTTP)
	if n.Address != "127.0.0.1:8001" || n.Metadata["protocol"] != "http" {
		t.Errorf("http-only kratos instance: want protocol http at 127.0.0.1:8001, have %+v", n)
	}

	_, n = node(t, r, f.goZero)
	if n.ID != "7587869723458765" || n.Address != "127.0.0.1:9100" || n.Metadata[etcd.MetadataLayout] != "gozero" || n.Metadata["protocol"] != "grpc" {
		t.Errorf("go-zero record: %+v", n)
	}

	all, err := r.ListServices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, s := range all {
		names[s.Name] = true
	}
	for _, want := range []string{f.goMicro, f.kratos, f.kratosHTTP, f.goZero} {
		if !names[want] {
			t.Errorf("ListServices misses %s: %v", want, names)
		}
	}
	for _, notGoZero := range []string{"config/" + f.goZero, f.goZero + "-settings"} {
		if names[notGoZero] {
			t.Errorf("%s is not a go-zero record", notGoZero)
		}
	}
}

func TestLayoutsOption(t *testing.T) {
	server := testenv.Etcd(t)
	f := writeForeign(t, server.Addr())
	r := newRegistry(t, server.Addr(), etcd.WithLayouts(etcd.LayoutMicro, etcd.LayoutKratos))
	if _, err := r.GetService(testContext(t), f.goMicro); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("go-micro is not read: want ErrNotFound, have %v", err)
	}
	if _, err := r.GetService(testContext(t), f.goZero); !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("go-zero is not read: want ErrNotFound, have %v", err)
	}
	node(t, r, f.kratos)

	// go-zero limited to one key.
	other := registrytest.UniqueName(t, "zero.other")
	put(t, rawClient(t, server.Addr()), other+"/42", "127.0.0.1:9200")
	zero := newRegistry(t, server.Addr(), etcd.WithLayouts(etcd.LayoutGoZero), etcd.WithGoZeroKeys(f.goZero))
	node(t, zero, f.goZero)
	all, err := zero.ListServices(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 1 || all[0].Name != f.goZero {
		t.Errorf("with go-zero keys %s, want only it listed, have %+v", f.goZero, all)
	}
}

// TestMalformed: records that cannot be read are skipped and reported once
// per version; they never fail a list, get or watch.
func TestMalformed(t *testing.T) {
	server := testenv.Etcd(t)
	raw := rawClient(t, server.Addr())
	name := registrytest.UniqueName(t, "broken")
	var reported syncErrors
	r := newRegistry(t, server.Addr(), etcd.WithOnError(reported.add))
	good := &registry.Service{Name: name, Nodes: []*registry.Node{{ID: "good", Address: "127.0.0.1:1"}}}
	if err := r.Register(testContext(t), good); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.Deregister(testContext(t), good) })
	put(t, raw, "/micro/services/"+name+"/bad", "{not json")
	put(t, raw, "/micro/registry/"+name+"/bad", `{"name": ""}`)
	put(t, raw, "/microservices/"+name+"/bad", `{"id": "x", "name": "`+name+`", "endpoints": ["tcp:no-host"]}`)

	for range 3 {
		if _, n := node(t, r, name); n.ID != "good" {
			t.Fatalf("want the good node only, have %+v", n)
		}
		if _, err := r.ListServices(testContext(t)); err != nil {
			t.Fatal(err)
		}
	}
	errs := reported.all()
	if len(errs) != 3 {
		t.Fatalf("want 3 records reported once each, have %d: %v", len(errs), errs)
	}
	layouts := map[etcd.Layout]bool{}
	for _, err := range errs {
		var rec *etcd.RecordError
		if !errors.As(err, &rec) || !strings.Contains(err.Error(), rec.Key) {
			t.Errorf("want a *RecordError naming the key, have %v", err)
			continue
		}
		layouts[rec.Layout] = true
	}
	if !layouts[etcd.LayoutMicro] || !layouts[etcd.LayoutGoMicro] || !layouts[etcd.LayoutKratos] {
		t.Errorf("want one report per layout, have %v", errs)
	}

	// A new version of a bad record is reported again; a watch skips it.
	w, err := r.Watch(testContext(t), registry.WatchService(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	put(t, raw, "/micro/services/"+name+"/bad", "still not json")
	put(t, raw, "/micro/services/"+name+"/later", fmt.Sprintf(`{"name":%q,"nodes":[{"id":"later","address":"127.0.0.1:2"}]}`, name))
	if ev := registrytest.NextEvent(t, w, name); ev.Type != registry.EventCreate || ev.Service.Nodes[0].ID != "later" {
		t.Fatalf("want create of later, have %s %+v", ev.Type, ev.Service.Nodes[0])
	}
	if n := len(reported.all()); n != 4 {
		t.Errorf("want the changed bad record reported again (4 reports), have %d", n)
	}
}

// TestWatchForeign: records of the other layouts are watched too.
func TestWatchForeign(t *testing.T) {
	server := testenv.Etcd(t)
	r := newRegistry(t, server.Addr())
	w, err := r.Watch(testContext(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	f := writeForeign(t, server.Addr())
	for _, name := range []string{f.goMicro, f.kratos, f.kratosHTTP, f.goZero} {
		ev := registrytest.NextEvent(t, w, name)
		if ev.Type != registry.EventCreate || ev.Service.Nodes[0].Metadata[etcd.MetadataLayout] == "" {
			t.Errorf("%s: want a create with its layout, have %s %+v", name, ev.Type, ev.Service.Nodes[0])
		}
	}
	if _, err := rawClient(t, server.Addr()).Delete(testContext(t), f.goZero+"/7587869723458765"); err != nil {
		t.Fatal(err)
	}
	if ev := registrytest.NextEvent(t, w, f.goZero); ev.Type != registry.EventDelete || ev.Service.Nodes[0].Address != "127.0.0.1:9100" {
		t.Errorf("want the go-zero node deleted with its address, have %s %+v", ev.Type, ev.Service.Nodes[0])
	}
}
