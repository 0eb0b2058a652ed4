package e2e

import (
	"strings"
	"testing"
)

// The product's own call form: one argument joins the service and the
// method, for call, stream, bench, describe and completion; dotted service
// names resolve by the registered prefix; two readings that both exist
// are refused with the two-argument form to use.
func TestCallJoinedForm(t *testing.T) {
	b := natsBackend(t)
	startGreeter(t, b)
	waitForNodes(t, b, 1)
	services, _ := getService(t, b, "greeter")
	address := services[0].Nodes[0].Address
	environ := callEnv(b, t.TempDir())
	// The same greeter under go-micro's dotted name, and a service whose
	// name makes greeter.Greeter.Hello read two ways.
	for _, name := range []string{"go.micro.srv.greeter", "shop", "shop.Greeter"} {
		if res := micro(t, environ, "register", "service", "--name", name, "--address", address, "--ttl", "5m"); res.code != 0 {
			t.Fatalf("register %s: %s", name, res)
		}
	}

	hello := `{"message":"Hello Ada"}` + "\n"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"call", "greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "greeter.Greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "greeter.greeter.v1.Greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "go.micro.srv.greeter.Greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "go.micro.srv.greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "greeter.Hello", "-d", `{"name":"Ada"}`}, hello},
		{[]string{"call", "greeter.Hello", `{"name":"Ada"}`, "--address", address}, hello},
		{[]string{"call", "greeter", "Greeter.Hello", `{"name":"Ada"}`}, hello},
		{[]string{"call", "go.micro.srv.greeter", "greeter.v1.Greeter/Hello", `{"name":"Ada"}`}, hello},
		{[]string{"stream", "greeter.Chat", `{"name":"Ann"}`, `{"name":"Ben"}`},
			`{"message":"Hello Ann","sequence":1}` + "\n" + `{"message":"Hello Ben","sequence":2}` + "\n"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			res := micro(t, environ, append(tc.args, "-o", "json")...)
			if res.code != 0 || res.stdout != tc.want {
				t.Errorf("want %q, have %s", tc.want, res)
			}
		})
	}

	res := micro(t, environ, "bench", "greeter.Hello", `{"name":"Ada"}`, "-n", "5", "-c", "1", "-o", "json")
	if res.code != 0 || !strings.Contains(res.stdout, `"rps"`) {
		t.Errorf("bench greeter.Hello: %s", res)
	}
	res = micro(t, environ, "describe", "greeter.Greeter.Hello")
	if res.code != 0 || !strings.Contains(res.stdout, "method /greeter.v1.Greeter/Hello (unary)") {
		t.Errorf("describe greeter.Greeter.Hello: %s", res)
	}
	res = micro(t, environ, "describe", "go.micro.srv.greeter")
	if res.code != 0 || !strings.Contains(res.stdout, "service greeter.v1.Greeter") {
		t.Errorf("describe go.micro.srv.greeter: %s", res)
	}

	// shop.Greeter.Hello: service shop with Greeter.Hello, or service
	// shop.Greeter with Hello.
	res = micro(t, environ, "call", "shop.Greeter.Hello", `{"name":"Ada"}`)
	assertCleanError(t, res, 2, "two readings", `"shop"`, `"shop.Greeter"`, "micro call shop.Greeter Service.Method")
	res = micro(t, environ, "call", "shop", "Greeter.Hello", `{"name":"Ada"}`, "-o", "json")
	if res.code != 0 || res.stdout != hello {
		t.Errorf("the two-argument form settles it: %s", res)
	}
	res = micro(t, environ, "call", "nothere.Greeter.Hello", "{}")
	assertCleanError(t, res, 1, `"nothere"`, "micro list services")

	// JSON that the shell stripped of its quotes: the fix is in the error.
	res = micro(t, environ, "call", "greeter.Hello", "{name:Ada}")
	assertCleanError(t, res, 2, "greeter.v1.HelloRequest", `quote the JSON in single quotes: '{"name":"Ada"}'`)
	res = micro(t, environ, "stream", "greeter.Chat", "{name:Ann}")
	assertCleanError(t, res, 2, `quote the JSON in single quotes: '{"name":"Ann"}'`)

	// Completion of the joined form.
	res = micro(t, environ, "__complete", "call", "greeter.Greeter.")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "greeter.Greeter.Hello\ngreeter.Greeter.Stream\n") {
		t.Errorf("complete greeter.Greeter.: %s", res)
	}
	res = micro(t, environ, "__complete", "stream", "go.micro.srv.greeter.Greeter.C")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "go.micro.srv.greeter.Greeter.Collect\ngo.micro.srv.greeter.Greeter.Chat\n") {
		t.Errorf("complete go.micro.srv.greeter.Greeter.C: %s", res)
	}
	res = micro(t, environ, "__complete", "bench", "greeter.Greeter.H")
	if res.code != 0 || !strings.HasPrefix(res.stdout, "greeter.Greeter.Hello\n") {
		t.Errorf("complete bench greeter.Greeter.H: %s", res)
	}
	res = micro(t, environ, "call", "--help")
	if i, j := strings.Index(res.stdout, "micro call greeter.Hello"), strings.Index(res.stdout, "micro call greeter Greeter.Hello"); i < 0 || j < 0 || i > j {
		t.Errorf("--help should show the joined form first:\n%s", res.stdout)
	}
}
