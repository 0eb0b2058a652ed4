package api

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	"github.com/microtools/micro/pkg/config"
)

// --allowed-host, repeatable and comma-separated, else
// $MICRO_API_ALLOWED_HOSTS; a bad host is a usage error naming it.
func TestNewCmdAPIAllowedHosts(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    []string
		wantErr string
	}{
		{name: "none", want: nil},
		{name: "flags", args: []string{"--allowed-host", "a.example,b.example", "--allowed-host", "c.example:8080"}, want: []string{"a.example", "b.example", "c.example:8080"}},
		{name: "environment", env: map[string]string{EnvAllowedHosts: "a.example,b.example"}, want: []string{"a.example", "b.example"}},
		{name: "the flag beats the environment", args: []string{"--allowed-host", "f.example"}, env: map[string]string{EnvAllowedHosts: "e.example"}, want: []string{"f.example"}},
		{name: "bad flag", args: []string{"--allowed-host", "http://a.example"}, wantErr: `--allowed-host: api: allowed host "http://a.example"`},
		{name: "bad environment", env: map[string]string{EnvAllowedHosts: "a.example/x"}, wantErr: `allowed host "a.example/x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			lookup := func(key string) (string, bool) { v, ok := tt.env[key]; return v, ok }
			f := &cmdutil.Factory{IO: ios, Config: func() (config.Config, error) { return config.Config{Env: lookup}, nil }}
			var got *Options
			cmd := NewCmdAPI(f, func(_ context.Context, o *Options) error { got = o; return nil })
			cmd.SetArgs(tt.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				var usage *cmdutil.UsageError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &usage) {
					t.Fatalf("want a usage error with %q, have %v", tt.wantErr, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.AllowedHosts, tt.want) {
				t.Errorf("want %q, have %q", tt.want, got.AllowedHosts)
			}
		})
	}
}
