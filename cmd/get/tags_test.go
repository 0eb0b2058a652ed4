package get

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

// TestTags: a node's plain tags show in the text and table output and are
// kept in -o json.
func TestTags(t *testing.T) {
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	svc := &registry.Service{Name: "web", Version: "1.0", Nodes: []*registry.Node{
		{ID: "web-1", Address: "127.0.0.1:81", Tags: []string{"primary", "canary"}},
		{ID: "web-2", Address: "127.0.0.1:82"},
	}}
	if err := reg.Register(context.Background(), svc); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		output string
		want   []string
	}{
		{cmdutil.OutputText, []string{"web\t1.0\tweb-1\t127.0.0.1:81\tpassing\t-\tprimary,canary\n", "web\t1.0\tweb-2\t127.0.0.1:82\tpassing\t-\t-\n"}},
		{cmdutil.OutputTable, []string{"TAGS", "primary,canary"}},
		{cmdutil.OutputJSON, []string{`"tags": [`, `"primary"`, `"canary"`}},
	}
	for _, c := range cases {
		t.Run(c.output, func(t *testing.T) {
			ios, _, stdout, _ := iostreams.Test()
			opts := &ServiceOptions{
				IO:       ios,
				Registry: func(context.Context) (registry.Registry, error) { return reg, nil },
				Output:   func() string { return c.output },
				Context:  func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
				Name:     "web",
			}
			if err := serviceRun(context.Background(), opts); err != nil {
				t.Fatal(err)
			}
			for _, want := range c.want {
				if !strings.Contains(stdout.String(), want) {
					t.Errorf("want %q in:\n%s", want, stdout)
				}
			}
			if c.output == cmdutil.OutputJSON {
				var services []*registry.Service
				if err := json.Unmarshal(stdout.Bytes(), &services); err != nil {
					t.Fatal(err)
				}
				var tags [][]string
				for _, node := range services[0].Nodes {
					tags = append(tags, node.Tags)
				}
				if !slices.ContainsFunc(tags, func(tt []string) bool { return slices.Equal(tt, []string{"primary", "canary"}) }) {
					t.Errorf("want the tags in the JSON records, have %q", tags)
				}
			}
		})
	}
}
