package new

import (
	"bytes"
	"context"
	"errors"
	"go/format"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
)

// repoRoot is the micro checkout these tests run in.
func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot find the source directory")
	}
	return filepath.Dir(filepath.Dir(filepath.Dir(file)))
}

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func TestValidateName(t *testing.T) {
	cases := []struct {
		name string
		want string // in the error; empty for a valid name
	}{
		{"orders", ""},
		{"user_profile", ""},
		{"v2", ""},
		{"a1_b2", ""},
		{"", "required"},
		{"Orders", `such as "orders"`},
		{"my-service", `such as "myservice"`},
		{"my.service", "not a valid Go package name"},
		{"1orders", `such as "orders"`},
		{"_orders", "starting with a letter"},
		{"orders!", "lower-case letters"},
		{"ordérs", "not a valid Go package name"},
		{"func", "Go keyword"},
		{"type", "Go keyword"},
		{"hello_request", "HelloRequest"},
		{"greeted", "Greeted"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := validateName(c.name)
			if c.want == "" {
				if err != nil {
					t.Fatalf("want %q accepted, have %v", c.name, err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error with %q, have %v", c.want, err)
			}
		})
	}
}

func TestCamel(t *testing.T) {
	for name, want := range map[string]string{"orders": "Orders", "user_profile": "UserProfile", "a__b_": "AB", "v2": "V2"} {
		if have := camel(name); have != want {
			t.Errorf("camel(%q): want %q, have %q", name, want, have)
		}
	}
}

func TestValidateModulePath(t *testing.T) {
	for _, good := range []string{"orders", "example.com/orders", "github.com/acme/orders-svc", "example.com/a_b/v2"} {
		if err := validateModulePath(good); err != nil {
			t.Errorf("%q: want valid, have %v", good, err)
		}
	}
	for _, bad := range []string{"", "/orders", "orders/", "a//b", "example.com/../x", ".hidden/x", "with space", `back\slash`, "semi;colon"} {
		if err := validateModulePath(bad); err == nil {
			t.Errorf("%q: want an error, have none", bad)
		}
	}
}

func TestShadowsStandardLibrary(t *testing.T) {
	goroot := t.TempDir()
	for _, dir := range []string{"src/time", "src/net/http"} {
		if err := os.MkdirAll(filepath.Join(goroot, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]bool{"time": true, "net/orders": true, "orders": false, "example.com/time": false}
	for path, want := range cases {
		if have := shadowsStandardLibrary(goroot, path); have != want {
			t.Errorf("%q: want %v, have %v", path, want, have)
		}
	}
}

func TestResolveMicro(t *testing.T) {
	root := repoRoot(t)
	notMicro := t.TempDir()
	if err := os.WriteFile(filepath.Join(notMicro, "go.mod"), []byte("module example.com/other\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	sourceFile := filepath.Join(root, "cmd", "new", "micro.go")
	cases := []struct {
		name     string
		microDir string
		build    buildSource
		want     microRequirement
		wantErr  string
	}{
		{name: "flag", microDir: root, want: microRequirement{Version: unpublishedVersion, Dir: root}},
		{name: "flag wins over release", microDir: root, build: buildSource{Version: "v1.2.3"}, want: microRequirement{Version: unpublishedVersion, Dir: root}},
		{name: "flag not micro", microDir: notMicro, wantErr: "example.com/other"},
		{name: "flag without go.mod", microDir: t.TempDir(), wantErr: "no go.mod"},
		{name: "built from checkout", build: buildSource{SourceFile: sourceFile, Version: "(devel)"}, want: microRequirement{Version: unpublishedVersion, Dir: root}},
		{name: "trimpath release", build: buildSource{SourceFile: "github.com/microtools/micro/cmd/new/micro.go", Version: "v1.2.3"}, want: microRequirement{Version: "v1.2.3"}},
		{name: "module cache release", build: buildSource{SourceFile: "/go/pkg/mod/github.com/microtools/micro@v1.2.3/cmd/new/micro.go", Version: "v1.2.3"}, want: microRequirement{Version: "v1.2.3"}},
		{name: "moved checkout", build: buildSource{SourceFile: "/nowhere/micro/cmd/new/micro.go", Version: "(devel)"}, wantErr: "--micro-dir"},
		{name: "pseudo-version", build: buildSource{SourceFile: "github.com/microtools/micro/cmd/new/micro.go", Version: "v0.0.0-20260101120000-0123456789ab+dirty"}, wantErr: "--micro-dir"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			have, err := resolveMicro(c.microDir, c.build)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("want an error with %q, have %v (%+v)", c.wantErr, err, have)
				}
				return
			}
			if err != nil || have != c.want {
				t.Fatalf("want %+v, have %+v, %v", c.want, have, err)
			}
		})
	}
}

func TestGoVersions(t *testing.T) {
	cases := []struct{ runtime, line, image string }{
		{"go1.26.8", "1.26.8", "1.26"},
		{"go1.27", "1.27", "1.27"},
		{"go1.27rc1", "1.27", "1.27"},
		{"devel go1.28-abcdef", "1.26", "1.26"},
	}
	for _, c := range cases {
		line, image := goVersions(c.runtime)
		if line != c.line || image != c.image {
			t.Errorf("%s: want %s and %s, have %s and %s", c.runtime, c.line, c.image, line, image)
		}
	}
}

// wantFiles are the files of a new service named orders, before go mod
// tidy adds go.sum.
var wantFiles = []string{
	".gitignore", "Dockerfile", "Makefile", "README.md", "go.mod",
	"handler/call_example_test.go", "handler/doc.go", "handler/events.go", "handler/events_test.go", "handler/handler.go", "handler/handler_test.go",
	"main.go", "main_test.go",
	"proto/generate.go", "proto/orders.pb.go", "proto/orders.proto", "proto/orders_grpc.pb.go",
}

func renderOrders(t *testing.T, module string) []file {
	t.Helper()
	data := newTemplateData("orders", module, microRequirement{Version: unpublishedVersion, Dir: "/src/micro"}, "1.26.8", "1.26")
	files, err := render(testContext(t), data)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// The files are all there, the Go files parse and are gofmt-formatted, and
// rendering twice gives the same bytes.
func TestRender(t *testing.T) {
	files := renderOrders(t, "example.com/orders")
	var paths []string
	for _, f := range files {
		paths = append(paths, f.path)
	}
	if strings.Join(paths, " ") != strings.Join(wantFiles, " ") {
		t.Fatalf("want files\n%v\nhave\n%v", wantFiles, paths)
	}
	byPath := map[string]string{}
	for _, f := range files {
		byPath[f.path] = string(f.content)
		if !strings.HasSuffix(f.path, ".go") {
			continue
		}
		if _, err := parser.ParseFile(token.NewFileSet(), f.path, f.content, parser.ParseComments); err != nil {
			t.Errorf("%s does not parse: %v", f.path, err)
		}
		formatted, err := format.Source(f.content)
		if err != nil || !bytes.Equal(formatted, f.content) {
			t.Errorf("%s is not gofmt-formatted (%v)", f.path, err)
		}
	}

	for path, wants := range map[string][]string{
		"go.mod": {"module example.com/orders\n", "go 1.26.8\n", "tool github.com/microtools/micro\n",
			"require github.com/microtools/micro " + unpublishedVersion + "\n", "replace github.com/microtools/micro => /src/micro\n"},
		"proto/orders.proto": {"package orders.v1;", `option go_package = "example.com/orders/proto;orderspb";`,
			"service Orders {", "rpc Hello(HelloRequest) returns (HelloResponse);", "rpc Stream(StreamRequest) returns (stream HelloResponse);",
			"rpc Collect(stream HelloRequest) returns (CollectResponse);", "rpc Chat(stream HelloRequest) returns (stream HelloResponse);", "message Greeted {"},
		"proto/generate.go":       {"package orderspb\n", "//go:generate go tool micro gen ..\n"},
		"proto/orders_grpc.pb.go": {"func RegisterOrdersServer(", "grpc.BidiStreamingClient[HelloRequest, HelloResponse]"},
		"main.go":                 {`serviceName    = "orders"`, "orderspb.RegisterOrdersServer(s, handler.New())", "service.Subscribe(handler.TopicGreeted"},
		"handler/events.go":       {`const TopicGreeted = "orders.greeted"`, `"greeted event without a name"`},
		"handler/handler.go":      {"type Orders struct {", `Message: "Hello " + req.GetName()`},
		"Makefile":                {"\nbuild:\n\t$(GO) build", "\nrun:\n", "\ntest:\n", "\ngen:\n\t$(GO) generate ./...", "\ndocker:\n\t$(GO) mod vendor"},
		"Dockerfile":              {"FROM golang:1.26 AS build", "-mod=vendor", `ENTRYPOINT ["/orders"]`},
		"README.md":               {"micro call orders Orders.Hello '{\"name\":\"Ada\"}'", "micro publish orders.greeted", "replace github.com/microtools/micro => /src/micro"},
		".gitignore":              {"/bin/", "/orders\n", "/vendor/"},
	} {
		for _, want := range wants {
			if !strings.Contains(byPath[path], want) {
				t.Errorf("%s should contain %q:\n%s", path, want, byPath[path])
			}
		}
	}

	again := renderOrders(t, "example.com/orders")
	for i := range files {
		if !bytes.Equal(files[i].content, again[i].content) {
			t.Errorf("%s differs between two renderings", files[i].path)
		}
	}
}

// Without a local checkout go.mod has no replace, and the README says how
// to add one.
func TestRenderRelease(t *testing.T) {
	data := newTemplateData("orders", "orders", microRequirement{Version: "v1.2.3"}, "1.26.8", "1.26")
	files, err := render(testContext(t), data)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		switch f.path {
		case "go.mod":
			if strings.Contains(string(f.content), "replace") || !strings.Contains(string(f.content), "require github.com/microtools/micro v1.2.3\n") {
				t.Errorf("want a plain require of v1.2.3:\n%s", f.content)
			}
		case "README.md":
			if !strings.Contains(string(f.content), "go mod edit -replace github.com/microtools/micro=/path/to/micro") {
				t.Errorf("the README should say how to build against a checkout:\n%s", f.content)
			}
		}
	}
}

func TestQuoteModPath(t *testing.T) {
	for in, want := range map[string]string{"/src/micro": "/src/micro", "/my src/micro": `"/my src/micro"`, `C:\src\micro`: `"C:\\src\\micro"`} {
		if have := quoteModPath(in); have != want {
			t.Errorf("%q: want %s, have %s", in, want, have)
		}
	}
}

func newOptions(t *testing.T, name, dir string) (*Options, *bytes.Buffer, *bytes.Buffer) {
	t.Helper()
	ios, _, stdout, stderr := iostreams.Test()
	return &Options{
		IO:        ios,
		Name:      name,
		Dir:       dir,
		NoTidy:    true, // the e2e test runs go mod tidy, go build and go test in a new service
		Build:     buildSource{SourceFile: filepath.Join(repoRoot(t), "cmd", "new", "micro.go"), Version: "(devel)"},
		GoVersion: "go1.26.8",
		GOROOT:    t.TempDir(),
	}, stdout, stderr
}

func TestNewRun(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "svc", "orders")
	opts, stdout, stderr := newOptions(t, "orders", dir)
	if err := newRun(testContext(t), opts); err != nil {
		t.Fatal(err)
	}
	for _, path := range wantFiles {
		if _, err := os.Stat(filepath.Join(dir, filepath.FromSlash(path))); err != nil {
			t.Errorf("%s was not written: %v", path, err)
		}
	}
	goMod, err := os.ReadFile(filepath.Join(dir, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "replace github.com/microtools/micro => " + repoRoot(t) + "\n"; !strings.Contains(string(goMod), want) {
		t.Errorf("go.mod should replace micro with the checkout the binary was built from (%s):\n%s", want, goMod)
	}
	out := stdout.String()
	for _, want := range []string{
		filepath.ToSlash(dir) + "/\n", "├── handler/\n", "│   ├── events.go\n", "└── proto/\n", "    └── orders_grpc.pb.go\n",
		"cd " + dir + "\n", "go mod tidy\n", "micro call orders Orders.Hello '{\"name\":\"Ada\"}'\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout should contain %q:\n%s", want, out)
		}
	}
	if !strings.Contains(stderr.String(), "wrote 17 files") {
		t.Errorf("stderr should say what was written: %q", stderr.String())
	}
}

func TestNewRunRefusesNonEmptyDirectory(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(mine, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	opts, _, _ := newOptions(t, "orders", dir)
	err := newRun(testContext(t), opts)
	if !errors.Is(err, errNotEmpty) || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("want a refusal that mentions --force, have %v", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("nothing should be written after a refusal, have %d entries", len(entries))
	}

	opts.Force = true
	if err := newRun(testContext(t), opts); err != nil {
		t.Fatalf("--force: %v", err)
	}
	if data, err := os.ReadFile(mine); err != nil || string(data) != "mine" {
		t.Errorf("--force keeps other files: %q %v", data, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "main.go")); err != nil {
		t.Errorf("--force writes the service: %v", err)
	}
}

func TestNewRunErrors(t *testing.T) {
	t.Run("target is a file", func(t *testing.T) {
		target := filepath.Join(t.TempDir(), "orders")
		if err := os.WriteFile(target, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		opts, _, _ := newOptions(t, "orders", target)
		if err := newRun(testContext(t), opts); err == nil || !strings.Contains(err.Error(), "not a directory") {
			t.Fatalf("want not a directory, have %v", err)
		}
	})
	t.Run("module shadows the standard library", func(t *testing.T) {
		opts, _, _ := newOptions(t, "time", filepath.Join(t.TempDir(), "time"))
		if err := os.MkdirAll(filepath.Join(opts.GOROOT, "src", "time"), 0o755); err != nil {
			t.Fatal(err)
		}
		err := newRun(testContext(t), opts)
		if cmdutil.ExitCode(err) != cmdutil.ExitUsage || !strings.Contains(err.Error(), "--module") {
			t.Fatalf("want a usage error suggesting --module, have %v", err)
		}
		opts.Module = "example.com/time"
		if err := newRun(testContext(t), opts); err != nil {
			t.Fatalf("with --module: %v", err)
		}
	})
	t.Run("unknown micro", func(t *testing.T) {
		opts, _, _ := newOptions(t, "orders", filepath.Join(t.TempDir(), "orders"))
		opts.Build = buildSource{SourceFile: "github.com/microtools/micro/cmd/new/micro.go", Version: "(devel)"}
		if err := newRun(testContext(t), opts); err == nil || !strings.Contains(err.Error(), "--micro-dir") {
			t.Fatalf("want advice to pass --micro-dir, have %v", err)
		}
	})
}

// The command validates its arguments and flags before it runs: bad names
// and module paths are usage errors.
func TestCommand(t *testing.T) {
	cases := []struct {
		args     []string
		wantCode int
		want     *Options
	}{
		{args: []string{"orders"}, want: &Options{Name: "orders"}},
		{args: []string{"orders", "--dir", "x", "--module", "example.com/orders", "--micro-dir", "/m", "--force", "--no-tidy"},
			want: &Options{Name: "orders", Dir: "x", Module: "example.com/orders", MicroDir: "/m", Force: true, NoTidy: true}},
		{args: []string{"My-Service"}, wantCode: cmdutil.ExitUsage},
		{args: []string{"orders", "--module", "bad path"}, wantCode: cmdutil.ExitUsage},
		{args: []string{}, wantCode: cmdutil.ExitUsage},
		{args: []string{"a", "b"}, wantCode: cmdutil.ExitUsage},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			ios, _, _, _ := iostreams.Test()
			var have *Options
			cmd := NewCmdNew(&cmdutil.Factory{IO: ios}, func(_ context.Context, opts *Options) error {
				have = opts
				return nil
			})
			cmd.SetArgs(c.args)
			cmd.SetOut(ios.Out)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if code := cmdutil.ExitCode(err); code != c.wantCode {
				t.Fatalf("want exit %d, have %d (%v)", c.wantCode, code, err)
			}
			if c.want == nil {
				return
			}
			if have == nil {
				t.Fatal("run was not called")
			}
			have.IO = nil
			if *have != *c.want {
				t.Errorf("want %+v, have %+v", *c.want, *have)
			}
		})
	}
}
