package register

import (
	"errors"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
)

func TestService(t *testing.T) {
	cases := []struct {
		name    string
		opts    Options
		wantErr bool
		check   func(t *testing.T, o Options)
	}{
		{name: "flags", opts: Options{Name: "pg", Address: "127.0.0.1:5432", Version: "16", Metadata: []string{"a=b", "c=d=e"}}},
		{name: "json", opts: Options{Record: `{"name":"x","version":"1","nodes":[{"id":"x-1","address":"[::1]:80"}]}`}},
		{name: "no address", opts: Options{Name: "pg"}, wantErr: true},
		{name: "port not a number", opts: Options{Name: "pg", Address: "127.0.0.1:http5"}, wantErr: true},
		{name: "no host", opts: Options{Name: "pg", Address: ":5432"}, wantErr: true},
		{name: "metadata without =", opts: Options{Name: "pg", Address: "127.0.0.1:1", Metadata: []string{"a"}}, wantErr: true},
		{name: "json and flags", opts: Options{Record: `{}`, Name: "x"}, wantErr: true},
		{name: "unknown json field", opts: Options{Record: `{"name":"x","nodez":[]}`}, wantErr: true},
		{name: "trailing data", opts: Options{Record: `{"name":"x","nodes":[{"id":"1","address":"a:1"}]} {}`}, wantErr: true},
		{name: "name with a space", opts: Options{Name: "has space", Address: "127.0.0.1:1"}, wantErr: true},
		{name: "name with ESC", opts: Options{Name: "x\x1b[2J", Address: "127.0.0.1:1"}, wantErr: true},
		{name: "metadata with ESC", opts: Options{Name: "x", Address: "127.0.0.1:1", Metadata: []string{"a=\x1b]0;title\x07"}}, wantErr: true},
		{name: "json name with ESC", opts: Options{Record: `{"name":"x\u001b[2J","nodes":[{"id":"1","address":"a:1"}]}`}, wantErr: true},
		{name: "json endpoint with C1 control", opts: Options{Record: `{"name":"x","endpoints":[{"name":"E\u009b"}],"nodes":[{"id":"1","address":"a:1"}]}`}, wantErr: true},
		{name: "json node id with a space", opts: Options{Record: `{"name":"x","nodes":[{"id":"a b","address":"a:1"}]}`}, wantErr: true},
		{name: "json bad address", opts: Options{Record: `{"name":"x","nodes":[{"id":"1","address":"a"}]}`}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			svc, err := Service(&c.opts)
			if c.wantErr {
				var usage *cmdutil.UsageError
				if !errors.As(err, &usage) {
					t.Fatalf("want a usage error, have %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(svc.Nodes) != 1 || svc.Nodes[0].ID == "" {
				t.Fatalf("want one node with an ID, have %+v", svc)
			}
		})
	}
	svc, _ := Service(&Options{Name: "pg", Address: "127.0.0.1:5432", Metadata: []string{"c=d=e"}})
	if svc.Nodes[0].Metadata["c"] != "d=e" {
		t.Errorf("want metadata c=d=e (split at the first =), have %v", svc.Nodes[0].Metadata)
	}
}
