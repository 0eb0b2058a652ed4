package watch

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
)

// A line of text escapes what came from the registry: a name or node ID
// cannot drive the terminal or add a field. JSON keeps it exact.
func TestWriteEventEscapes(t *testing.T) {
	event := &registry.Event{
		Type:      registry.EventCreate,
		Timestamp: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Service: &registry.Service{
			Name:  "evil\x1b[2J",
			Nodes: []*registry.Node{{ID: "n\t1", Address: "127.0.0.1:1\u009b"}},
		},
	}
	cases := []struct {
		output string
		check  func(t *testing.T, out string)
	}{
		{cmdutil.OutputText, func(t *testing.T, out string) {
			fields := strings.Split(strings.TrimSuffix(out, "\n"), "\t")
			if len(fields) != 6 || fields[2] != `evil\x1b[2J` || fields[4] != "n 1" || fields[5] != `127.0.0.1:1\u009b` {
				t.Errorf("want 6 fields, escaped; have %q", out)
			}
		}},
		{cmdutil.OutputJSON, func(t *testing.T, out string) {
			var have registry.Event
			if err := json.Unmarshal([]byte(out), &have); err != nil || have.Service.Name != "evil\x1b[2J" || have.Service.Nodes[0].ID != "n\t1" {
				t.Errorf("want the record exact in JSON, have %v %q", err, out)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.output, func(t *testing.T) {
			ios, _, stdout, _ := iostreams.Test()
			opts := &Options{IO: ios, Output: func() string { return c.output }}
			if err := writeEvent(opts, event); err != nil {
				t.Fatal(err)
			}
			c.check(t, stdout.String())
		})
	}
}
