package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"go/format"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
)

// micro new writes a service that vets, is gofmt-clean and passes its tests
// with nothing but Go; run against micro server it is listed, answers micro
// call and micro stream with every method kind and handles micro publish of
// its event; after a field is added to its .proto, micro gen and a rebuild
// carry the new field through micro call.
func TestNewService(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	dir := filepath.Join(work, "tasks")
	goEnv := env("GOWORK=off")

	// run runs a program to completion in dir, bounded by the test's deadline.
	run := func(t *testing.T, environ []string, stdin string, name string, args ...string) result {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir, cmd.Env, cmd.Stdin = dir, environ, strings.NewReader(stdin)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		res := result{stdout: stdout.String(), stderr: stderr.String()}
		var exit *exec.ExitError
		switch {
		case errors.As(err, &exit):
			res.code = exit.ExitCode()
		case err != nil:
			t.Fatalf("%s %v: %v", name, args, err)
		}
		return res
	}
	mustGo := func(t *testing.T, args ...string) {
		t.Helper()
		if res := run(t, goEnv, "", "go", args...); res.code != 0 {
			t.Fatalf("go %s in the new service: %s", strings.Join(args, " "), res)
		}
	}

	ok := t.Run("new", func(t *testing.T) {
		// No --micro-dir: the binary knows the checkout it was built from.
		cmd := exec.CommandContext(ctx, microBin, "new", "tasks", "--dir", dir, "--module", "example.com/tasks")
		cmd.Dir, cmd.Env = work, env()
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("micro new: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
		}
		for _, want := range []string{
			dir + "/\n", "├── go.sum\n", "├── handler/\n", "│   └── handler_test.go\n", "└── proto/\n",
			"    ├── tasks.pb.go\n", "    ├── tasks.proto\n", "    └── tasks_grpc.pb.go\n",
			"cd " + dir + "\n", `micro call tasks Tasks.Hello '{"name":"Ada"}'`,
		} {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("stdout should show %q:\n%s", want, stdout.String())
			}
		}
		goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err != nil || !strings.Contains(string(goMod), "replace github.com/microtools/micro => "+root+"\n") {
			t.Errorf("go.mod should replace micro with the checkout micro was built from, %s: %v\n%s", root, err, goMod)
		}

		// A second time into the same directory is refused, and writes nothing.
		again := micro(t, env(), "new", "tasks", "--dir", dir, "--no-tidy")
		assertCleanError(t, again, 1, "not empty", "--force")
		// Names that are not Go package names and proto identifiers are usage errors.
		bad := micro(t, env(), "new", "my-tasks", "--dir", filepath.Join(work, "bad"))
		assertCleanError(t, bad, 2, `"my-tasks"`, `"mytasks"`)
		if _, err := os.Stat(filepath.Join(work, "bad")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("a rejected name writes nothing: %v", err)
		}
	})
	if !ok {
		return
	}

	ok = t.Run("vet, gofmt and test with only Go", func(t *testing.T) {
		mustGo(t, "vet", "./...")
		assertGofmtClean(t, dir)
		res := run(t, goEnv, "", "go", "test", "-count=1", "./...")
		if res.code != 0 {
			t.Fatalf("go test ./... in the new service: %s", res)
		}
		for _, pkg := range []string{"ok  \texample.com/tasks\t", "ok  \texample.com/tasks/handler\t"} {
			if !strings.Contains(res.stdout, pkg) {
				t.Errorf("want %q in the go test output:\n%s", pkg, res.stdout)
			}
		}
	})
	if !ok {
		return
	}

	bin := filepath.Join(work, "tasks-bin")
	mustGo(t, "build", "-o", bin, ".")
	addr, _ := startMicroServer(t)
	microEnv := env("MICRO_REGISTRY_ADDRESS="+addr, "XDG_CACHE_HOME="+t.TempDir())
	startService := func(t *testing.T, version string) *process {
		t.Helper()
		p := start(t, env("MICRO_REGISTRY_ADDRESS="+addr, "MICRO_SERVER_ADDRESS=127.0.0.1:0", "MICRO_SERVICE_VERSION="+version), bin)
		testutil.Eventually(t, 20*time.Second, func() error {
			if !strings.Contains(p.Output(), `msg="service started"`) {
				return fmt.Errorf("the service has not started:\n%s", p.Output())
			}
			return nil
		})
		return p
	}
	svc := startService(t, "0.1.0")
	microRun := func(t *testing.T, stdin string, args ...string) result {
		t.Helper()
		return run(t, microEnv, stdin, microBin, args...)
	}

	t.Run("listed", func(t *testing.T) {
		testutil.Eventually(t, 20*time.Second, func() error {
			res := microRun(t, "", "list", "services")
			if res.code != 0 || !strings.Contains(res.stdout, "tasks\t0.1.0") {
				return fmt.Errorf("tasks 0.1.0 is not listed: %s", res)
			}
			return nil
		})
	})

	t.Run("call", func(t *testing.T) {
		res := microRun(t, "", "call", "tasks", "Tasks.Hello", `{"name":"Ada"}`)
		assertMessages(t, res, []string{"Hello Ada"})
	})

	t.Run("stream", func(t *testing.T) {
		res := microRun(t, "", "stream", "tasks", "Tasks.Stream", `{"name":"Ada","count":3}`)
		assertMessages(t, res, []string{"Hello Ada", "Hello Ada", "Hello Ada"})
		res = microRun(t, "{\"name\":\"Ada\"}\n{\"name\":\"Grace\"}\n{\"name\":\"Alan\"}\n", "stream", "tasks", "Tasks.Collect")
		assertMessages(t, res, []string{"Hello Ada, Grace and Alan"})
		res = microRun(t, "{\"name\":\"Ada\"}\n{\"name\":\"Grace\"}\n", "stream", "tasks", "Tasks.Chat")
		assertMessages(t, res, []string{"Hello Ada", "Hello Grace"})
	})

	t.Run("publish", func(t *testing.T) {
		res := microRun(t, "", "publish", "tasks.greeted", `{"name":"Ada"}`)
		if res.code != 0 {
			t.Fatalf("micro publish: %s", res)
		}
		testutil.Eventually(t, 10*time.Second, func() error {
			if !strings.Contains(svc.Output(), `msg="handled event" topic=tasks.greeted name=Ada`) {
				return fmt.Errorf("the service has not handled the event:\n%s", svc.Output())
			}
			return nil
		})
	})

	t.Run("new field through micro gen", func(t *testing.T) {
		edit(t, filepath.Join(dir, "proto", "tasks.proto"),
			"  string name = 1;\n}\n\n// HelloResponse",
			"  string name = 1;\n  // title goes before the name.\n  string title = 2;\n}\n\n// HelloResponse")
		edit(t, filepath.Join(dir, "handler", "handler.go"),
			`Message: "Hello " + req.GetName()}`,
			`Message: "Hello " + req.GetTitle() + " " + req.GetName()}`)

		res := run(t, env(), "", microBin, "gen", dir)
		if res.code != 0 {
			t.Fatalf("micro gen: %s", res)
		}
		wantPaths := filepath.Join(dir, "proto", "tasks.pb.go") + "\n" + filepath.Join(dir, "proto", "tasks_grpc.pb.go") + "\n"
		if res.stdout != wantPaths {
			t.Errorf("micro gen should list what it wrote:\nwant %s\nhave %s", wantPaths, res.stdout)
		}
		if res := run(t, env(), "", microBin, "gen", "--check", dir); res.code != 0 {
			t.Errorf("micro gen --check right after micro gen: %s", res)
		}
		generated := snapshot(t, filepath.Join(dir, "proto"))
		// go generate runs the same generator through `go tool micro`.
		mustGo(t, "generate", "./...")
		if after := snapshot(t, filepath.Join(dir, "proto")); !equalSnapshots(generated, after) {
			t.Errorf("go generate ./... wrote different code than micro gen")
		}
		mustGo(t, "vet", "./...")
		assertGofmtClean(t, dir)
		mustGo(t, "build", "-o", bin, ".")

		svc.signal(syscall.SIGTERM)
		if code := svc.wait(t, 15*time.Second); code != 0 {
			t.Errorf("the service should exit 0 on SIGTERM, exited %d", code)
		}
		startService(t, "0.2.0")
		testutil.Eventually(t, 20*time.Second, func() error {
			res := microRun(t, "", "call", "tasks", "Tasks.Hello", `{"name":"Ada","title":"Dr"}`)
			if res.code != 0 || !strings.Contains(res.stdout, "Hello Dr Ada") {
				return fmt.Errorf("want Hello Dr Ada: %s", res)
			}
			return nil
		})
	})
}

// assertMessages checks that res printed JSON objects whose "message"
// fields are want, in order; the output may be indented or one a line.
func assertMessages(t *testing.T, res result, want []string) {
	t.Helper()
	if res.code != 0 {
		t.Fatalf("want exit 0, have %s", res)
	}
	var have []string
	dec := json.NewDecoder(strings.NewReader(res.stdout))
	for {
		var msg struct {
			Message string `json:"message"`
		}
		err := dec.Decode(&msg)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("output is not JSON: %v\n%s", err, res)
		}
		have = append(have, msg.Message)
	}
	if strings.Join(have, "|") != strings.Join(want, "|") {
		t.Errorf("want messages %q, have %q\n%s", want, have, res)
	}
}

// assertGofmtClean checks that every Go file under dir is formatted as
// gofmt formats it.
func assertGofmtClean(t *testing.T, dir string) {
	t.Helper()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		formatted, err := format.Source(src)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		if !bytes.Equal(src, formatted) {
			t.Errorf("%s is not gofmt-clean", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// edit replaces old, which must be there, with new in the file at path.
func edit(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(data, []byte(old)) {
		t.Fatalf("%s does not contain %q: the template changed?\n%s", path, old, data)
	}
	if err := os.WriteFile(path, bytes.Replace(data, []byte(old), []byte(new), 1), 0o644); err != nil {
		t.Fatal(err)
	}
}

// snapshot reads the files directly in dir.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = string(data)
	}
	return files
}

func equalSnapshots(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for name, content := range a {
		if other, ok := b[name]; !ok || other != content {
			return false
		}
	}
	return true
}
