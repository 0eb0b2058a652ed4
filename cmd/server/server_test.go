package server

import (
	"context"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
)

func TestNewCmdServerClusterFlags(t *testing.T) {
	routes := "--routes=127.0.0.1:6223,127.0.0.1:6224"
	cases := []struct {
		name         string
		args         []string
		wantCode     int
		wantErr      string
		wantReplicas int
		wantRoutes   int
	}{
		{name: "single server", args: nil, wantReplicas: 1},
		{name: "three members", args: []string{"--cluster-name", "c", "--cluster-address", "127.0.0.1:6222", routes}, wantReplicas: 3, wantRoutes: 2},
		{name: "member listing itself", args: []string{"--cluster-name", "c", "--cluster-address", "127.0.0.1:6222", "--routes", "127.0.0.1:6222,127.0.0.1:6223"}, wantReplicas: 1, wantRoutes: 1},
		{name: "explicit replicas", args: []string{"--cluster-name", "c", "--cluster-address", "127.0.0.1:6222", routes, "--replicas", "2"}, wantReplicas: 2, wantRoutes: 2},
		{name: "routes without a name", args: []string{routes}, wantCode: cmdutil.ExitUsage, wantErr: "--routes needs --cluster-name"},
		{name: "address without a name", args: []string{"--cluster-address", "127.0.0.1:6222"}, wantCode: cmdutil.ExitUsage, wantErr: "--cluster-address needs --cluster-name"},
		{name: "bad cluster address", args: []string{"--cluster-name", "c", "--cluster-address", "nowhere"}, wantCode: cmdutil.ExitUsage, wantErr: `--cluster-address "nowhere"`},
		{name: "bad route", args: []string{"--cluster-name", "c", "--routes", "127.0.0.1:x"}, wantCode: cmdutil.ExitUsage, wantErr: "--routes"},
		{name: "more replicas than members", args: []string{"--cluster-name", "c", "--cluster-address", "127.0.0.1:6222", "--routes", "127.0.0.1:6223", "--replicas", "3"}, wantCode: cmdutil.ExitUsage, wantErr: "--replicas 3 needs as many cluster members"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var have *Options
			cmd := NewCmdServer(&cmdutil.Factory{IO: ios}, func(_ context.Context, opts *Options) error {
				have = opts
				return nil
			})
			cmd.SetArgs(append([]string{"--data-dir", t.TempDir()}, c.args...))
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != c.wantCode {
				t.Fatalf("want exit %d, have %d (%v)", c.wantCode, code, err)
			}
			if c.wantCode != 0 {
				if !strings.Contains(err.Error(), c.wantErr) {
					t.Errorf("want an error with %q, have %v", c.wantErr, err)
				}
				return
			}
			if r := replicas(have); r != c.wantReplicas {
				t.Errorf("want %d replicas, have %d", c.wantReplicas, r)
			}
			if n := members(have) - 1; n != c.wantRoutes {
				t.Errorf("want %d other members, have %d", c.wantRoutes, n)
			}
		})
	}
}
