package cmdutil

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestPlural(t *testing.T) {
	for n, want := range map[int]string{0: "0 arguments", 1: "1 argument", 2: "2 arguments"} {
		if have := Plural(n, "argument"); have != want {
			t.Errorf("Plural(%d): want %q, have %q", n, want, have)
		}
	}
}

func TestArgsCountInTheError(t *testing.T) {
	cmd := &cobra.Command{Use: "two"}
	cases := []struct {
		check cobra.PositionalArgs
		args  []string
		want  string
	}{
		{ExactArgs(2, "a service and a topic"), []string{"a"}, "(got 1 argument)"},
		{ExactArgs(1, "a service name"), nil, "(got 0 arguments)"},
		{RangeArgs(0, 1, "at most one service name"), []string{"a", "b"}, "(got 2 arguments)"},
	}
	for _, c := range cases {
		err := c.check(cmd, c.args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: want an error with %q, have %v", c.args, c.want, err)
		}
	}
}
