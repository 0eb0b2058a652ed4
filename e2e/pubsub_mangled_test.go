package e2e

import (
	"strings"
	"testing"
	"time"
)

// `micro publish greeter.greeted {"name":"Ada"}` typed without single
// quotes reaches micro as {name:Ada}: it is sent as it is, with a warning
// that gives the quoting fix. Split at a space, it is a usage error with
// the same fix.
func TestPublishShellMangledJSON(t *testing.T) {
	addr, _ := startMicroServer(t)
	environ := pubsubEnv(addr)
	nc := bareClient(t, addr)
	sub, err := nc.SubscribeSync("greeter.greeted")
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}

	res := micro(t, environ, "publish", "greeter.greeted", "{name:Ada}")
	if res.code != 0 || res.stdout != "" {
		t.Fatalf("want exit 0 and nothing on stdout: %s", res)
	}
	want := `micro: warning: the body {name:Ada} is not JSON and is sent as it is (Content-Type text/plain; charset=utf-8); it looks like JSON whose double quotes the shell removed: quote the JSON in single quotes: '{"name":"Ada"}'`
	if strings.TrimSpace(res.stderr) != want {
		t.Errorf("want the warning\n%s\nhave\n%s", want, res.stderr)
	}
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(m.Data) != "{name:Ada}" {
		t.Fatalf("the body is still sent as it is: %v %v", m, err)
	}

	res = micro(t, environ, "publish", "greeter.greeted", `{"name":"Ada"}`)
	if res.code != 0 || res.stderr != "" {
		t.Errorf("JSON: want no warning: %s", res)
	}

	res = micro(t, environ, "publish", "greeter.greeted", "{name:", "Ada}")
	assertCleanError(t, res, 2, `quote the JSON in single quotes: '{"name": "Ada"}'`)
}
