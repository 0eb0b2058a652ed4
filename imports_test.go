package main

import (
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
)

const modulePath = "github.com/microtools/micro/"

// moduleImports lists, with `go list -deps`, every package of the module
// that the packages named import, directly or not, with the module's
// packages each imports directly (module path trimmed: "pkg/call"). go
// list fails on an import cycle, and so does this.
func moduleImports(t *testing.T, patterns ...string) map[string][]string {
	t.Helper()
	if _, err := exec.LookPath("go"); err != nil {
		testenv.Unavailable(t, "no go command on PATH: %v", err)
	}
	args := append([]string{"list", "-deps", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}"}, patterns...)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	imports := map[string][]string{}
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 || !strings.HasPrefix(fields[0], modulePath) {
			continue
		}
		pkg := strings.TrimPrefix(fields[0], modulePath)
		imports[pkg] = []string{}
		for _, imp := range fields[1:] {
			if strings.HasPrefix(imp, modulePath) {
				imports[pkg] = append(imports[pkg], strings.TrimPrefix(imp, modulePath))
			}
		}
	}
	return imports
}

// reachable is every module package pkg imports, directly or not.
func reachable(imports map[string][]string, pkg string) []string {
	seen := map[string]bool{}
	var walk func(string)
	walk = func(p string) {
		for _, imp := range imports[p] {
			if !seen[imp] {
				seen[imp] = true
				walk(imp)
			}
		}
	}
	walk(pkg)
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

func under(pkg string, prefixes ...string) bool {
	for _, prefix := range prefixes {
		if pkg == prefix || strings.HasPrefix(pkg, prefix+"/") {
			return true
		}
	}
	return false
}

// The direction of imports in docs (design: "Client, Transport and
// calls"): pkg/client sits on pkg/call, pkg/transport, pkg/selector and
// pkg/registry; pkg/call never imports pkg/client, nor the node choice
// (pkg/selector) that moved there; pkg/transport/* import only codecs; no
// package of pkg/ imports cmd/. No cycle (go list would fail).
func TestImportDirection(t *testing.T) {
	imports := moduleImports(t, "./pkg/...", "./cmd/...")
	if len(imports["pkg/client"]) == 0 || len(imports["pkg/call"]) == 0 {
		t.Fatalf("go list did not list pkg/client and pkg/call: %v", imports)
	}
	rules := []struct {
		name    string
		pkgs    func(string) bool // the packages the rule is about
		allowed func(string) bool // what they may import, directly or not
	}{
		{
			name:    "pkg/call never imports pkg/client or pkg/selector",
			pkgs:    func(p string) bool { return under(p, "pkg/call") },
			allowed: func(p string) bool { return !under(p, "pkg/client", "pkg/selector", "cmd") },
		},
		{
			name:    "pkg/transport/* import only pkg/transport and codecs",
			pkgs:    func(p string) bool { return under(p, "pkg/transport") },
			allowed: func(p string) bool { return under(p, "pkg/transport", "pkg/codec") },
		},
		{
			name: "pkg/client imports pkg/call, pkg/transport, pkg/selector, pkg/registry (and codecs)",
			pkgs: func(p string) bool { return p == "pkg/client" },
			allowed: func(p string) bool {
				return under(p, "pkg/call", "pkg/transport", "pkg/selector", "pkg/registry", "pkg/codec", "internal/protofeatures")
			},
		},
		{
			name:    "pkg/* never imports cmd/*",
			pkgs:    func(p string) bool { return under(p, "pkg") },
			allowed: func(p string) bool { return !under(p, "cmd") },
		},
	}
	for _, rule := range rules {
		t.Run(rule.name, func(t *testing.T) {
			checked := 0
			for pkg := range imports {
				if !rule.pkgs(pkg) {
					continue
				}
				checked++
				for _, dep := range reachable(imports, pkg) {
					if !rule.allowed(dep) {
						t.Errorf("%s imports %s (directly or through %v)", pkg, dep, importersOf(imports, pkg, dep))
					}
				}
			}
			if checked == 0 {
				t.Error("no package to check: the rule names none that go list listed")
			}
		})
	}
}

// importersOf names the packages, among pkg and what it reaches, that
// import dep directly: where to look.
func importersOf(imports map[string][]string, pkg, dep string) []string {
	var out []string
	for _, p := range append(reachable(imports, pkg), pkg) {
		if slices.Contains(imports[p], dep) {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}
