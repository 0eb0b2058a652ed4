package consul

import (
	"bytes"
	"compress/zlib"
	"encoding/hex"
	"encoding/json"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry"
)

// goMicroTag encodes data the way go-micro's consul registry does, written
// here independently of compress: hex of zlib.
func goMicroTag(t testing.TB, prefix string, data []byte) string {
	t.Helper()
	var buf bytes.Buffer
	w := zlib.NewWriter(&buf)
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(buf.Bytes())
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestDecodeTags(t *testing.T) {
	endpoint := &registry.Endpoint{
		Name:     "Greeter.Hello",
		Request:  &registry.Value{Name: "HelloRequest", Type: "HelloRequest", Values: []*registry.Value{{Name: "name", Type: "string"}}},
		Response: &registry.Value{Name: "HelloResponse", Type: "HelloResponse"},
		Metadata: map[string]string{"stream": "false"},
	}
	cases := []struct {
		name string
		tags []string
		want decodedTags
	}{
		{
			name: "go-micro hex zlib",
			tags: []string{
				goMicroTag(t, "v-", []byte("1.0.0")),
				goMicroTag(t, "t-", mustJSON(t, map[string]string{"zone": "a"})),
				goMicroTag(t, "t-", mustJSON(t, map[string]string{"registry": "consul"})),
				goMicroTag(t, "e-", mustJSON(t, endpoint)),
			},
			want: decodedTags{
				version: "1.0.0", hasVersion: true,
				nodeMetadata: map[string]string{"zone": "a", "registry": "consul"}, hasNodeMetadata: true,
				endpoints: []*registry.Endpoint{endpoint},
			},
		},
		{
			name: "go-micro plain legacy",
			tags: []string{
				"v=0.9",
				"t=" + string(mustJSON(t, map[string]string{"zone": "b", "rack": "7"})),
				"e=" + string(mustJSON(t, endpoint)),
			},
			want: decodedTags{
				version: "0.9", hasVersion: true,
				nodeMetadata: map[string]string{"zone": "b", "rack": "7"}, hasNodeMetadata: true,
				endpoints: []*registry.Endpoint{endpoint},
			},
		},
		{
			name: "ours",
			tags: []string{
				goMicroTag(t, "v-", []byte("2")),
				goMicroTag(t, "s-", []byte(`{"team":"core"}`)),
			},
			want: decodedTags{
				version: "2", hasVersion: true,
				serviceMetadata: map[string]string{"team": "core"}, ours: true,
			},
		},
		{
			name: "first version wins",
			tags: []string{"v=1", goMicroTag(t, "v-", []byte("2"))},
			want: decodedTags{version: "1", hasVersion: true},
		},
		{
			name: "garbage and foreign tags are plain tags",
			tags: []string{
				"", "v", "e", "t", "s", "v-", "e-zz", "t-00", "s-not-hex",
				"e=null", "e=[1,2]", "t={\"a\":1}", "t=null",
				goMicroTag(t, "e-", []byte("null")),
				goMicroTag(t, "t-", []byte("{")),
				goMicroTag(t, "s-", []byte("[]")),
				"primary", "traefik.enable=true", "edge", "v1", "e-commerce",
			},
			want: decodedTags{plain: []string{
				"", "v", "e", "t", "s", "v-", "e-zz", "t-00", "s-not-hex",
				"e=null", "e=[1,2]", "t={\"a\":1}", "t=null",
				goMicroTag(t, "e-", []byte("null")),
				goMicroTag(t, "t-", []byte("{")),
				goMicroTag(t, "s-", []byte("[]")),
				"primary", "traefik.enable=true", "edge", "v1", "e-commerce",
			}},
		},
		{
			name: "plain tags among encoded ones keep their order",
			tags: []string{
				"primary",
				goMicroTag(t, "v-", []byte("1.0.0")),
				"canary",
				goMicroTag(t, "t-", mustJSON(t, map[string]string{"zone": "a"})),
				goMicroTag(t, "e-", mustJSON(t, endpoint)),
				"v=0.9", // a second version: encoded, not a plain tag
			},
			want: decodedTags{
				version: "1.0.0", hasVersion: true,
				nodeMetadata: map[string]string{"zone": "a"}, hasNodeMetadata: true,
				endpoints: []*registry.Endpoint{endpoint},
				plain:     []string{"primary", "canary"},
			},
		},
		{
			name: "no tags",
			want: decodedTags{},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have := decodeTags(c.tags)
			if !reflect.DeepEqual(c.want, have) {
				t.Errorf("want %+v, have %+v", c.want, have)
			}
		})
	}
}

func TestEncodeTagsRoundTrip(t *testing.T) {
	cases := []struct {
		name string
		svc  *registry.Service
	}{
		{
			name: "full",
			svc: &registry.Service{
				Name:     "greeter",
				Version:  "1.2.0",
				Metadata: map[string]string{"team": "core", "a.b": strings.Repeat("x", 600)},
				Endpoints: []*registry.Endpoint{
					{Name: "Greeter.Hello", Request: &registry.Value{Name: "Req", Type: "Req"}},
					{Name: "Greeter.Chat", Metadata: map[string]string{"stream": "true"}},
				},
				Nodes: []*registry.Node{{ID: "n1", Address: "127.0.0.1:1", Metadata: map[string]string{"zone": "a", "path": "/x y=z"}, Tags: []string{"primary", "canary"}}},
			},
		},
		{
			name: "bare",
			svc:  &registry.Service{Name: "bare", Nodes: []*registry.Node{{ID: "n1", Address: "127.0.0.1:1"}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tags, err := encodeTags(c.svc, c.svc.Nodes[0])
			if err != nil {
				t.Fatal(err)
			}
			d := decodeTags(tags)
			if !d.ours || !d.hasVersion || d.version != c.svc.Version {
				t.Errorf("want our record with version %q, have %+v", c.svc.Version, d)
			}
			if !maps.Equal(d.nodeMetadata, c.svc.Nodes[0].Metadata) {
				t.Errorf("node metadata: want %v, have %v", c.svc.Nodes[0].Metadata, d.nodeMetadata)
			}
			if !maps.Equal(d.serviceMetadata, c.svc.Metadata) {
				t.Errorf("service metadata: want %v, have %v", c.svc.Metadata, d.serviceMetadata)
			}
			if !slices.Equal(d.plain, c.svc.Nodes[0].Tags) {
				t.Errorf("plain tags: want %q, have %q", c.svc.Nodes[0].Tags, d.plain)
			}
			if !reflect.DeepEqual(d.endpoints, c.svc.Endpoints) {
				t.Errorf("endpoints: want %+v, have %+v", c.svc.Endpoints, d.endpoints)
			}
			again, _ := encodeTags(c.svc, c.svc.Nodes[0])
			if !reflect.DeepEqual(tags, again) {
				t.Error("encoding the same record twice gave different tags")
			}
			for _, tag := range tags {
				// go-micro decoders read the first byte of every tag; our
				// own tags must not look like theirs unless they are.
				if tag[0] == 'v' || tag[0] == 't' || tag[0] == 'e' {
					if tag[1] != '-' {
						t.Errorf("tag %q would confuse go-micro", tag)
					}
				}
			}
		})
	}
}

func TestEncodeMeta(t *testing.T) {
	many := map[string]string{}
	for i := range 100 {
		many[strings.Repeat("k", 1+i%5)+string(rune('a'+i%26))+strings.Repeat("z", i/26)] = "v"
	}
	cases := []struct {
		name    string
		svc     *registry.Service
		want    map[string]string // nil: only check the limits
		wantLen int
	}{
		{
			name: "version, node then service metadata",
			svc: &registry.Service{
				Version:  "1.0",
				Metadata: map[string]string{"team": "core", "zone": "service-loses"},
				Nodes:    []*registry.Node{{Metadata: map[string]string{"zone": "a"}}},
			},
			want: map[string]string{"version": "1.0", "zone": "a", "team": "core"},
		},
		{
			name: "what consul refuses is left out",
			svc: &registry.Service{
				Nodes: []*registry.Node{{Metadata: map[string]string{
					"ok":                      "1",
					"dotted.key":              "2",
					"consul-reserved":         "3",
					"":                        "4",
					"long-value":              strings.Repeat("x", 513),
					"max-value":               strings.Repeat("x", 512),
					strings.Repeat("k", 129):  "5",
					strings.Repeat("k", 128):  "6",
					"space key":               "7",
					"unicode-ключ":            "8",
					"under_score-and-dash-09": "9",
				}}},
			},
			want: map[string]string{
				"ok":                      "1",
				"max-value":               strings.Repeat("x", 512),
				strings.Repeat("k", 128):  "6",
				"under_score-and-dash-09": "9",
			},
		},
		{
			name:    "at most 64 pairs",
			svc:     &registry.Service{Version: "1", Nodes: []*registry.Node{{Metadata: many}}},
			wantLen: metaMaxPairs,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have := encodeMeta(c.svc, c.svc.Nodes[0])
			if c.want != nil && !maps.Equal(c.want, have) {
				t.Errorf("want %v, have %v", c.want, have)
			}
			if c.wantLen != 0 && len(have) != c.wantLen {
				t.Errorf("want %d pairs, have %d", c.wantLen, len(have))
			}
			for k, v := range have {
				if !validMetaKey(k) || len(v) > metaValueMaxLength {
					t.Errorf("consul would refuse %q=%q", k, v)
				}
			}
		})
	}
}

func TestServiceFromEntry(t *testing.T) {
	passing := api.HealthChecks{{CheckID: "serfHealth", Status: api.HealthPassing}, {CheckID: "service:n1", Status: api.HealthPassing}}
	ours, err := encodeTags(&registry.Service{Name: "svc", Version: "3", Metadata: map[string]string{"team": "core"}},
		&registry.Node{Metadata: map[string]string{"zone": "a"}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		entry *api.ServiceEntry
		want  *registry.Service
	}{
		{
			name: "ours: tags win over meta",
			entry: &api.ServiceEntry{
				Node:    &api.Node{Address: "10.0.0.1"},
				Service: &api.AgentService{ID: "n1", Service: "svc", Address: "127.0.0.1", Port: 8080, Tags: ours, Meta: map[string]string{"version": "3", "zone": "a", "team": "core"}},
				Checks:  passing,
			},
			want: &registry.Service{Name: "svc", Version: "3", Metadata: map[string]string{"team": "core"},
				Nodes: []*registry.Node{{ID: "n1", Address: "127.0.0.1:8080", Metadata: map[string]string{"zone": "a"}, Health: "passing"}}},
		},
		{
			name: "plain: meta, node address, no port",
			entry: &api.ServiceEntry{
				Node:    &api.Node{Address: "10.0.0.1"},
				Service: &api.AgentService{ID: "web-1", Service: "web", Meta: map[string]string{"version": "2.0", "zone": "b"}},
			},
			want: &registry.Service{Name: "web", Version: "2.0",
				Nodes: []*registry.Node{{ID: "web-1", Address: "10.0.0.1", Metadata: map[string]string{"version": "2.0", "zone": "b"}, Health: "passing"}}},
		},
		{
			name: "plain tags are kept, encoded ones decoded",
			entry: &api.ServiceEntry{
				Service: &api.AgentService{ID: "web-2", Service: "web", Address: "127.0.0.1", Port: 81,
					Tags: append([]string{"primary", "canary"}, ours...)},
			},
			want: &registry.Service{Name: "web", Version: "3", Metadata: map[string]string{"team": "core"},
				Nodes: []*registry.Node{{ID: "web-2", Address: "127.0.0.1:81", Metadata: map[string]string{"zone": "a"}, Tags: []string{"primary", "canary"}, Health: "passing"}}},
		},
		{
			name: "ipv6 address",
			entry: &api.ServiceEntry{
				Service: &api.AgentService{ID: "v6", Service: "web", Address: "::1", Port: 80},
				Checks:  api.HealthChecks{{Status: api.HealthWarning}},
			},
			want: &registry.Service{Name: "web",
				Nodes: []*registry.Node{{ID: "v6", Address: "[::1]:80", Health: "warning"}}},
		},
		{
			name: "maintenance counts as critical",
			entry: &api.ServiceEntry{
				Service: &api.AgentService{ID: "m", Service: "web", Address: "127.0.0.1", Port: 1},
				Checks:  api.HealthChecks{{CheckID: api.NodeMaint, Status: api.HealthPassing}},
			},
			want: &registry.Service{Name: "web",
				Nodes: []*registry.Node{{ID: "m", Address: "127.0.0.1:1", Health: "critical"}}},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have := serviceFromEntry(c.entry)
			if !reflect.DeepEqual(c.want, have) {
				t.Errorf("want %s\nhave %s", mustJSON(t, c.want), mustJSON(t, have))
			}
		})
	}
}

func TestHealth(t *testing.T) {
	check := func(id, status string) *api.HealthCheck { return &api.HealthCheck{CheckID: id, Status: status} }
	cases := []struct {
		checks api.HealthChecks
		want   string
	}{
		{nil, registry.HealthPassing},
		{api.HealthChecks{check("a", api.HealthPassing)}, registry.HealthPassing},
		{api.HealthChecks{check("a", api.HealthPassing), check("b", api.HealthWarning)}, registry.HealthWarning},
		{api.HealthChecks{check("a", api.HealthWarning), check("serfHealth", api.HealthCritical)}, registry.HealthCritical},
		{api.HealthChecks{check(api.ServiceMaintPrefix+"x", api.HealthCritical)}, registry.HealthCritical},
		{api.HealthChecks{check("a", "bogus")}, registry.HealthCritical},
	}
	for _, c := range cases {
		if have := health(c.checks); have != c.want {
			t.Errorf("%v: want %s, have %s", c.checks, c.want, have)
		}
	}
}

func TestSplitAddress(t *testing.T) {
	cases := []struct {
		addr     string
		wantHost string
		wantPort int
	}{
		{"127.0.0.1:50051", "127.0.0.1", 50051},
		{"[::1]:80", "::1", 80},
		{"greeter.local:9000", "greeter.local", 9000},
		{"no-port", "no-port", 0},
		{"host:notaport", "host:notaport", 0},
		{"host:70000", "host:70000", 0},
	}
	for _, c := range cases {
		host, port := splitAddress(c.addr)
		if host != c.wantHost || port != c.wantPort {
			t.Errorf("%q: want %q %d, have %q %d", c.addr, c.wantHost, c.wantPort, host, port)
		}
	}
}

func TestNextIndex(t *testing.T) {
	cases := []struct{ prev, next, want uint64 }{
		{0, 5, 5},
		{5, 5, 5},
		{5, 9, 9},
		{9, 3, 0}, // a restarted agent: start over
		{0, 0, 1},
	}
	for _, c := range cases {
		if have := nextIndex(c.prev, c.next); have != c.want {
			t.Errorf("nextIndex(%d, %d): want %d, have %d", c.prev, c.next, c.want, have)
		}
	}
}

func TestDecompressBounded(t *testing.T) {
	bomb := goMicroTag(t, "", bytes.Repeat([]byte{'a'}, maxDecodedTag+10))
	if _, err := decompress(bomb); err == nil {
		t.Fatal("a tag that expands past the limit should not decode")
	}
}

// FuzzDecodeTags feeds arbitrary tags to the decoder: it must never panic,
// never return nil endpoints, and must read back what encodeTags wrote.
func FuzzDecodeTags(f *testing.F) {
	endpoint := mustJSON(f, &registry.Endpoint{Name: "Greeter.Hello", Request: &registry.Value{Name: "Req", Type: "Req"}})
	seeds := [][2]string{
		{goMicroTag(f, "v-", []byte("1.0.0")), goMicroTag(f, "t-", []byte(`{"zone":"a"}`))},
		{goMicroTag(f, "e-", endpoint), "v=legacy"},
		{"e=" + string(endpoint), "t=" + `{"k":"v"}`},
		{goMicroTag(f, "s-", []byte(`{"team":"core"}`)), ""},
		{"e", "v"},
		{"e-", "t-zz"},
		{"e=null", goMicroTag(f, "e-", []byte("null"))},
		{"t=[]", goMicroTag(f, "t-", []byte(`{"a":1}`))},
		{"v-789c", "e-789c0300000000"},
		{"primary", "traefik.http.routers.web.rule=Host(`x`)"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		d := decodeTags([]string{a, b, a})
		for _, ep := range d.endpoints {
			if ep == nil {
				t.Fatalf("nil endpoint from %q %q", a, b)
			}
		}
		if d.hasNodeMetadata && d.nodeMetadata == nil {
			t.Fatal("node metadata reported but nil")
		}

		// Whatever came out must survive our own encoding.
		svc := &registry.Service{Name: "fuzz", Version: d.version, Metadata: d.serviceMetadata, Endpoints: d.endpoints}
		node := &registry.Node{ID: "n", Address: "127.0.0.1:1", Metadata: d.nodeMetadata}
		tags, err := encodeTags(svc, node)
		if err != nil {
			return // e.g. invalid UTF-8 is fine to refuse
		}
		again := decodeTags(tags)
		if again.version != d.version || !maps.Equal(again.nodeMetadata, d.nodeMetadata) ||
			!maps.Equal(again.serviceMetadata, d.serviceMetadata) || len(again.endpoints) != len(d.endpoints) {
			t.Fatalf("round trip changed the record: %+v -> %+v", d, again)
		}
	})
}
