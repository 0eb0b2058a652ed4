package nats

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestRecordKey(t *testing.T) {
	cases := []struct {
		service, node string
		want          string
	}{
		{"greeter", "greeter-1", "greeter.greeter-1"},
		{"go.micro.srv.greeter", "abc-123", "go.micro.srv.greeter.abc-123"},
		{"a", "b.x", "a.b=2Ex"},
		{"a.b", "x", "a.b.x"},
		{".a", "n", "=2Ea.n"},
		{"a.", "n", "a=2E.n"},
		{"a..b", "n", "a=2E=2Eb.n"},
		{"a b", "n*1", "a=20b.n=2A1"},
		{"a>", "10.0.0.1:8080", "a=3E.10=2E0=2E0=2E1=3A8080"},
		{"x=y", "a/b_c-d", "x=3Dy.a/b_c-d"},
		{"grüße", "ü", "gr=C3=BC=C3=9Fe.=C3=BC"},
	}
	for _, c := range cases {
		t.Run(c.service+"/"+c.node, func(t *testing.T) {
			have := recordKey(c.service, c.node)
			if have != c.want {
				t.Errorf("want key %q, have %q", c.want, have)
			}
			service, node, err := parseKey(have)
			if err != nil {
				t.Fatalf("parse %q: %v", have, err)
			}
			if service != c.service || node != c.node {
				t.Errorf("want %q %q back, have %q %q", c.service, c.node, service, node)
			}
			if strings.Count(have, ".") != strings.Count(escapeService(c.service), ".")+1 {
				t.Errorf("the node id of %q is not one token", have)
			}
		})
	}
}

// TestServiceFilter checks that the filter of a service matches the keys of
// its nodes and never those of a service whose name it is a prefix of.
func TestServiceFilter(t *testing.T) {
	cases := []struct {
		filterOf  string
		service   string
		node      string
		wantMatch bool
	}{
		{"a", "a", "n1", true},
		{"a", "a", "n.1", true},
		{"a", "a.b", "n1", false},
		{"a", "ab", "n1", false},
		{"a.b", "a", "b.x", false},
		{"a.b", "a.b", "x", true},
		{"go.micro.srv.greeter", "go.micro.srv.greeter", "1", true},
		{"go.micro.srv", "go.micro.srv.greeter", "1", false},
	}
	for _, c := range cases {
		filter, key := serviceFilter(c.filterOf), recordKey(c.service, c.node)
		if have := subjectMatches(filter, key); have != c.wantMatch {
			t.Errorf("filter %q (service %q) against key %q (service %q node %q): want match %v, have %v",
				filter, c.filterOf, key, c.service, c.node, c.wantMatch, have)
		}
	}
}

// subjectMatches is NATS subject matching for filters with '*' tokens.
func subjectMatches(filter, subject string) bool {
	f, s := strings.Split(filter, "."), strings.Split(subject, ".")
	if len(f) != len(s) {
		return false
	}
	for i := range f {
		if f[i] != "*" && f[i] != s[i] {
			return false
		}
	}
	return true
}

func TestParseKeyRejects(t *testing.T) {
	for _, key := range []string{"", "nodot", ".n", "s.", "s.=4", "s.=ZZ", "=G1.n", "s.=2e"} {
		if _, _, err := parseKey(key); err == nil {
			t.Errorf("parse %q: want an error", key)
		}
	}
}

func FuzzRecordKey(f *testing.F) {
	for _, seed := range [][2]string{{"greeter", "1"}, {"a.b", "c.d"}, {"..", "."}, {"=", "=2E"}, {"a*>", " "}} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, service, node string) {
		if service == "" || node == "" {
			return
		}
		key := recordKey(service, node)
		if !validKey(key) {
			t.Fatalf("key %q of %q %q is not a valid key", key, service, node)
		}
		s, n, err := parseKey(key)
		if err != nil || s != service || n != node {
			t.Fatalf("key %q of %q %q parses as %q %q (%v)", key, service, node, s, n, err)
		}
		if !utf8.ValidString(key) {
			t.Fatalf("key %q is not utf-8", key)
		}
	})
}

// validKey mirrors the rule of nats.go's jetstream package for keys.
func validKey(key string) bool {
	if key == "" || key[0] == '.' || key[len(key)-1] == '.' || strings.Contains(key, "..") {
		return false
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; !keyByteOK(c) && c != '.' && c != '=' {
			return false
		}
	}
	return true
}
