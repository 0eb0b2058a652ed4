package mcp

import (
	"regexp"
	"strings"
	"testing"
)

func TestAssignNames(t *testing.T) {
	valid := regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	long := strings.Repeat("very-long-service-name.", 4)
	candidates := []nameCandidate{
		{key: toolKey{"greeter", "greeter.v1.Greeter.Hello"}, short: "greeter_Greeter_Hello", long: "greeter_greeter_v1_Greeter_Hello"},
		{key: toolKey{"greeter", "greeter.v2.Greeter.Hello"}, short: "greeter_Greeter_Hello", long: "greeter_greeter_v2_Greeter_Hello"},
		{key: toolKey{"greeter", "greeter.v1.Greeter.Stream"}, short: "greeter_Greeter_Stream", long: "greeter_greeter_v1_Greeter_Stream"},
		{key: toolKey{"list", "x.services"}, short: "list_services", long: "list_services"},
		{key: toolKey{long, "a.B.C"}, short: sanitizeName(long + "_B_C"), long: sanitizeName(long + "_a_B_C")},
		{key: toolKey{long, "a.B.D"}, short: sanitizeName(long + "_B_D"), long: sanitizeName(long + "_a_B_D")},
	}
	reserved := map[string]bool{"list_services": true}
	names := assignNames(candidates, reserved)
	want := map[toolKey]string{
		{"greeter", "greeter.v1.Greeter.Hello"}:  "greeter_greeter_v1_Greeter_Hello",
		{"greeter", "greeter.v2.Greeter.Hello"}:  "greeter_greeter_v2_Greeter_Hello",
		{"greeter", "greeter.v1.Greeter.Stream"}: "greeter_Greeter_Stream",
	}
	for key, name := range want {
		if names[key] != name {
			t.Errorf("%v: want %s, have %s", key, name, names[key])
		}
	}
	seen := map[string]bool{}
	for key, name := range names {
		if !valid.MatchString(name) {
			t.Errorf("%v: %q is not a valid tool name", key, name)
		}
		if seen[name] || reserved[name] {
			t.Errorf("%v: %q is taken", key, name)
		}
		seen[name] = true
	}
	// The same names whatever the order.
	reversed := make([]nameCandidate, len(candidates))
	for i, c := range candidates {
		reversed[len(candidates)-1-i] = c
	}
	again := assignNames(reversed, reserved)
	for key, name := range names {
		if again[key] != name {
			t.Errorf("%v: %s in one order, %s in the other", key, name, again[key])
		}
	}
}

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"greeter_Greeter_Hello":  "greeter_Greeter_Hello",
		"go.micro.srv.greeter_X": "go_micro_srv_greeter_X",
		"a..b//c":                "a_b_c",
		"...":                    "tool",
		"über-service_Do":        "ber-service_Do",
		"billing-v2_Billing_Pay": "billing-v2_Billing_Pay",
	} {
		if have := sanitizeName(in); have != want {
			t.Errorf("sanitizeName(%q): want %q, have %q", in, want, have)
		}
	}
}

func TestCleanText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{" Hello\tworld \n\n", 0, "Hello world"},
		{"a\x1b[31mred\x07\u202eb\u200bc", 0, "a[31mredbc"},
		{"abcdefghij", 5, "abcd…"},
		{"line one\nline two", 0, "line one\nline two"},
	} {
		if have := cleanText(tc.in, tc.max); have != tc.want {
			t.Errorf("cleanText(%q, %d): want %q, have %q", tc.in, tc.max, tc.want, have)
		}
	}
}
