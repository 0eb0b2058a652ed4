package list

import (
	"context"
	"reflect"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
)

func TestSummarize(t *testing.T) {
	services := []*registry.Service{
		{Name: "b", Version: "2", Nodes: []*registry.Node{{ID: "b1", Health: registry.HealthPassing}}},
		{Name: "a", Version: "1", Nodes: []*registry.Node{{ID: "a1", Health: registry.HealthPassing}, {ID: "a2", Health: registry.HealthCritical}}},
		{Name: "a", Version: "", Nodes: []*registry.Node{{ID: "a3", Health: registry.HealthPassing}}},
	}
	want := []Summary{
		{Name: "a", Versions: []string{"-", "1"}, Healthy: 2, Total: 3},
		{Name: "b", Versions: []string{"2"}, Healthy: 1, Total: 1},
	}
	if have := Summarize(services); !reflect.DeepEqual(want, have) {
		t.Errorf("want %+v, have %+v", want, have)
	}
}

func TestServicesRunOutputs(t *testing.T) {
	reg := memory.New()
	t.Cleanup(func() { _ = reg.Close() })
	err := reg.Register(context.Background(), &registry.Service{Name: "greeter", Version: "1.0.0",
		Nodes: []*registry.Node{{ID: "g1", Address: "127.0.0.1:1"}, {ID: "g2", Address: "127.0.0.1:2"}}})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		format string
		tty    bool
		want   string
	}{
		{cmdutil.OutputAuto, false, "greeter\t1.0.0\t2/2\n"},
		{cmdutil.OutputText, true, "greeter\t1.0.0\t2/2\n"},
		{cmdutil.OutputAuto, true, "NAME     VERSIONS  NODES\ngreeter  1.0.0     2/2\n"},
	}
	for _, c := range cases {
		ios, _, out, _ := iostreams.Test()
		ios.SetStdoutTTY(c.tty)
		opts := &ServicesOptions{
			IO:       ios,
			Registry: func(context.Context) (registry.Registry, error) { return reg, nil },
			Output:   func() string { return c.format },
			Context:  func(ctx context.Context) (context.Context, context.CancelFunc) { return context.WithCancel(ctx) },
		}
		if err := servicesRun(context.Background(), opts); err != nil {
			t.Fatal(err)
		}
		if out.String() != c.want {
			t.Errorf("format %q tty %v: want %q, have %q", c.format, c.tty, c.want, out.String())
		}
	}
}
