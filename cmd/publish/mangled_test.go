package publish

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/internal/testenv"
)

// TestShellMangledJSON: a body that looks like JSON the shell stripped of
// its quotes ({name:Ada}) is sent as it is, with a warning on stderr that
// gives the quoting fix; JSON, plain text, files and an explicit
// Content-Type get no warning.
func TestShellMangledJSON(t *testing.T) {
	srv := testenv.NATS(t)
	fx := newFixture(t, srv.URL())
	file := filepath.Join(t.TempDir(), "body")
	if err := os.WriteFile(file, []byte(`{name:Ada}`), 0o644); err != nil {
		t.Fatal(err)
	}
	const warning = `micro: warning: the body {name:Ada} is not JSON and is sent as it is (Content-Type text/plain; charset=utf-8); it looks like JSON whose double quotes the shell removed: quote the JSON in single quotes: '{"name":"Ada"}'` + "\n"

	cases := []struct {
		name        string
		args        []string
		wantWarning string
		wantType    string
	}{
		{"argument", []string{"greeter.greeted", `{name:Ada}`}, warning, "text/plain; charset=utf-8"},
		{"-d", []string{"greeter.greeted", "-d", `{name:Ada}`}, warning, "text/plain; charset=utf-8"},
		{"count", []string{"greeter.greeted", `{name:Ada}`, "--count", "2"}, warning, "text/plain; charset=utf-8"},
		{"JSON content type", []string{"greeter.greeted", `{name:Ada}`, "-H", "Content-Type:application/json"},
			strings.Replace(warning, "text/plain; charset=utf-8", "application/json", 1), "application/json"},
		{"JSON", []string{"greeter.greeted", `{"name":"Ada"}`}, "", "application/json"},
		{"text", []string{"greeter.greeted", `hello {name}`}, "", "text/plain; charset=utf-8"},
		{"file", []string{"greeter.greeted", "-d", "@" + file}, "", "text/plain; charset=utf-8"},
		{"other content type", []string{"greeter.greeted", `{name:Ada}`, "-H", "Content-Type:text/x-config"}, "", "text/x-config"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := fx.run(t, "", c.args...); err != nil {
				t.Fatal(err)
			}
			m := fx.received(t, 1)[0]
			if m.Header.Get("Content-Type") != c.wantType {
				t.Errorf("want Content-Type %q, have %q", c.wantType, m.Header.Get("Content-Type"))
			}
			stderr := fx.stderr.String()
			if c.wantWarning == "" && strings.Contains(stderr, "warning") || c.wantWarning != "" && !strings.HasPrefix(stderr, c.wantWarning) {
				t.Errorf("want stderr starting with %q, have %q", c.wantWarning, stderr)
			}
			if strings.Count(stderr, "warning") > 1 {
				t.Errorf("warn once, not per message: %q", stderr)
			}
			if c.name == "count" {
				fx.received(t, 1) // the second message
			}
		})
	}

	// Unquoted JSON with a space reaches publish as several arguments.
	err := fx.run(t, "", "greeter.greeted", "{name:", "Ada}")
	var usage *cmdutil.UsageError
	if !errors.As(err, &usage) || !strings.Contains(err.Error(), `quote the JSON in single quotes: '{"name": "Ada"}'`) {
		t.Errorf("want a usage error with the quoting fix, have %v", err)
	}
}
