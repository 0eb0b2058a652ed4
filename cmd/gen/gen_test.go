package gen

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
)

const ordersProto = `syntax = "proto3";
package orders.v1;
service Orders {
  rpc Get(GetRequest) returns (Order);
}
message GetRequest { string id = 1; }
message Order { string id = 1; }
`

// newService writes a module with proto/orders.proto that has no
// go_package, as micro gen finds one.
func newService(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	write(t, filepath.Join(dir, "go.mod"), "module example.com/shop\n\ngo 1.26\n")
	write(t, filepath.Join(dir, "proto", "orders.proto"), ordersProto)
	return dir
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, opts *Options, format string) (string, error) {
	t.Helper()
	ios, _, stdout, _ := iostreams.Test()
	opts.IO = ios
	opts.Output = func() string { return format }
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	err := genRun(ctx, opts)
	return stdout.String(), err
}

func TestGenRun(t *testing.T) {
	dir := newService(t)
	out, err := run(t, &Options{Dir: dir}, "")
	if err != nil {
		t.Fatal(err)
	}
	pb := filepath.Join(dir, "proto", "orders.pb.go")
	grpc := filepath.Join(dir, "proto", "orders_grpc.pb.go")
	if want := pb + "\n" + grpc + "\n"; out != want {
		t.Errorf("want the written paths\n%s\nhave\n%s", want, out)
	}
	code, err := os.ReadFile(grpc)
	if err != nil {
		t.Fatal(err)
	}
	// No go_package: the package of proto/ in module example.com/shop.
	if !strings.Contains(string(code), "\npackage proto\n") || !strings.Contains(string(code), "func RegisterOrdersServer(") {
		t.Errorf("unexpected code:\n%s", code)
	}

	// Up to date: --check passes and lists nothing.
	if out, err := run(t, &Options{Dir: dir, Check: true}, ""); err != nil || out != "" {
		t.Fatalf("--check after gen: want no output and no error, have %q, %v", out, err)
	}
	// A new field makes orders.pb.go stale.
	write(t, filepath.Join(dir, "proto", "orders.proto"), strings.Replace(ordersProto, "string id = 1; }\n", "string id = 1; string note = 2; }\n", 1))
	out, err = run(t, &Options{Dir: dir, Check: true}, "")
	if err == nil || !strings.Contains(err.Error(), "out of date") || out != pb+"\n" {
		t.Fatalf("--check after an edit: want %s listed and an error, have %q, %v", pb, out, err)
	}
	out, err = run(t, &Options{Dir: dir}, "json")
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	if err := json.Unmarshal([]byte(out), &paths); err != nil || len(paths) != 2 {
		t.Fatalf("-o json: want the two paths, have %q (%v)", out, err)
	}
	if code, _ := os.ReadFile(pb); !strings.Contains(string(code), "GetNote()") {
		t.Error("the new field is not in the regenerated code")
	}
}

// Without a proto/ directory the files are looked for in DIR itself;
// --proto-path names the import paths.
func TestGenRunProtoPaths(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "api", "orders.proto"), strings.Replace(ordersProto, "package orders.v1;", "package orders.v1;\noption go_package = \"example.com/x/api;apipb\";\nimport \"common/money.proto\";", 1))
	write(t, filepath.Join(dir, "third_party", "common", "money.proto"), "syntax = \"proto3\";\npackage common;\noption go_package = \"example.com/x/common\";\nmessage Money { int64 cents = 1; }\n")

	if _, err := run(t, &Options{Dir: filepath.Join(dir, "api")}, ""); err == nil || !strings.Contains(err.Error(), "common/money.proto") {
		t.Fatalf("without the import path: want an error naming the import, have %v", err)
	}
	out, err := run(t, &Options{Dir: dir, ProtoPaths: []string{filepath.Join(dir, "api"), filepath.Join(dir, "third_party")}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, filepath.Join(dir, "api", "orders_grpc.pb.go")) || strings.Contains(out, "money") {
		t.Errorf("want code for api/orders.proto only, have:\n%s", out)
	}
}

func TestGenRunErrors(t *testing.T) {
	empty := t.TempDir()
	file := filepath.Join(empty, "file.txt")
	write(t, file, "")
	cases := []struct {
		name     string
		dir      string
		wantCode int
		want     string
	}{
		{"no proto files", empty, cmdutil.ExitError, "no .proto files in " + empty},
		{"missing directory", filepath.Join(empty, "missing"), cmdutil.ExitError, "missing"},
		{"not a directory", file, cmdutil.ExitUsage, "not a directory"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := run(t, &Options{Dir: c.dir}, "")
			if code := cmdutil.ExitCode(err); code != c.wantCode || err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want exit %d with %q, have %d: %v", c.wantCode, c.want, code, err)
			}
		})
	}
}

func TestCommandArgs(t *testing.T) {
	cases := []struct {
		args     []string
		wantDir  string
		wantCode int
	}{
		{args: nil, wantDir: "."},
		{args: []string{"svc"}, wantDir: "svc"},
		{args: []string{"a", "b"}, wantCode: cmdutil.ExitUsage},
	}
	for _, c := range cases {
		ios, _, _, _ := iostreams.Test()
		var have *Options
		cmd := NewCmdGen(&cmdutil.Factory{IO: ios}, func(_ context.Context, opts *Options) error {
			have = opts
			return nil
		})
		cmd.SetArgs(c.args)
		cmd.SetOut(ios.Out)
		cmd.SetErr(ios.ErrOut)
		err := cmd.Execute()
		if code := cmdutil.ExitCode(err); code != c.wantCode {
			t.Errorf("%v: want exit %d, have %d (%v)", c.args, c.wantCode, code, err)
			continue
		}
		if c.wantCode == 0 && (have == nil || have.Dir != c.wantDir) {
			t.Errorf("%v: want dir %q, have %+v", c.args, c.wantDir, have)
		}
	}
}
