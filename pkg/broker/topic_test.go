package broker_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/microtools/micro/pkg/broker"
)

func TestValidateTopic(t *testing.T) {
	cases := []struct {
		topic string
		want  string // "" for valid, else part of the error
	}{
		{"orders", ""},
		{"orders.created", ""},
		{"go.micro.srv.greeter", ""},
		{"a-b_c/d:e", ""},
		{"grüße.ü", ""},
		{"", "empty"},
		{"a b", "whitespace"},
		{"a\tb", "whitespace"},
		{"a\x7fb", "control"},
		{".a", "empty token at byte 0"},
		{"a.", "empty token at byte 1"},
		{"a..b", "empty token at byte 2"},
		{"a.*", `wildcard '*'`},
		{"a.>", `wildcard '>'`},
		{"a*b", `wildcard '*'`},
	}
	for _, c := range cases {
		err := broker.ValidateTopic(c.topic)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidateTopic(%q): want nil, have %v", c.topic, err)
		case c.want != "" && (!errors.Is(err, broker.ErrInvalidTopic) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ValidateTopic(%q): want ErrInvalidTopic saying %q, have %v", c.topic, c.want, err)
		}
	}
}

func TestValidatePattern(t *testing.T) {
	cases := []struct {
		pattern string
		want    string
	}{
		{"orders", ""},
		{"orders.*", ""},
		{"*.created", ""},
		{"orders.>", ""},
		{">", ""},
		{"*", ""},
		{"a.*.>", ""},
		{"", "empty"},
		{"a b.*", "whitespace"},
		{"a..*", "empty token"},
		{"a.*.", "empty token"},
		{">.a", `">" before the last token`},
		{"a.>.b", `">" before the last token`},
		{"a*", "wildcard inside token"},
		{"a.b>", "wildcard inside token"},
	}
	for _, c := range cases {
		err := broker.ValidatePattern(c.pattern)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("ValidatePattern(%q): want nil, have %v", c.pattern, err)
		case c.want != "" && (!errors.Is(err, broker.ErrInvalidTopic) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("ValidatePattern(%q): want ErrInvalidTopic saying %q, have %v", c.pattern, c.want, err)
		}
	}
}

func TestMatchTopic(t *testing.T) {
	cases := []struct {
		pattern, topic string
		want           bool
	}{
		{"a", "a", true},
		{"a", "b", false},
		{"a", "a.b", false},
		{"a.b", "a", false},
		{"a.*", "a.b", true},
		{"a.*", "a.b.c", false},
		{"a.*", "a", false},
		{"*.b", "a.b", true},
		{"a.>", "a.b", true},
		{"a.>", "a.b.c", true},
		{"a.>", "a", false},
		{">", "a", true},
		{">", "a.b", true},
		{"a.*.c", "a.b.c", true},
		{"a.*.c", "a.b.d", false},
		{"*", "a", true},
		{"*", "a.b", false},
	}
	for _, c := range cases {
		if have := broker.MatchTopic(c.pattern, c.topic); have != c.want {
			t.Errorf("MatchTopic(%q, %q): want %v, have %v", c.pattern, c.topic, c.want, have)
		}
	}
}

func BenchmarkValidateTopic(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if err := broker.ValidateTopic("go.micro.srv.greeter.greeted"); err != nil {
			b.Fatal(err)
		}
	}
}
