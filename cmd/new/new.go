// Package new implements `micro new NAME`: a complete service that builds,
// tests and runs at once, with its generated code in place.
package new

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
)

// Options are the inputs of `micro new`.
type Options struct {
	IO *iostreams.IOStreams

	// Name is the service name.
	Name string
	// Dir is where to write; empty means ./NAME.
	Dir string
	// Module is the module path; empty means NAME.
	Module string
	// MicroDir is the micro checkout that go.mod replaces micro with;
	// empty means the checkout this binary was built from, if known.
	MicroDir string
	// Force writes into a directory that is not empty.
	Force bool
	// NoTidy skips `go mod tidy` in the new directory.
	NoTidy bool

	// Build is what the binary knows of its own source; tests set it.
	Build buildSource
	// GoVersion is the Go release the go.mod is written for, as
	// runtime.Version says it ("go1.26.8").
	GoVersion string
	// GOROOT is the standard library a module path must not shadow.
	GOROOT string
}

// NewCmdNew returns `micro new`. runF replaces the run function in tests.
func NewCmdNew(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "new NAME",
		Short: "Create a service that builds, tests and runs at once",
		Long: `Write a complete gRPC service in a new directory: go.mod, main.go on
micro's pkg/service, proto/NAME.proto with a method of each kind (unary,
server-, client- and bidirectional streaming) and an event, the Go code
generated from it, the handlers with in-process tests, a subscriber for the
event, a Makefile, a Dockerfile, a README and a .gitignore. Then run
'go mod tidy' there, so that 'go build ./...' and 'go test ./...' work at
once with nothing but Go installed.

NAME must be a lower-case Go package name and proto identifier (letters,
digits, underscores). It is the directory (--dir), the module path
(--module), the registered service name and the proto package NAME.v1.

While micro is not published, the service's go.mod replaces micro with a
local checkout: --micro-dir, or by default the checkout this micro binary was
built from (its source path is recorded in the binary unless built with
-trimpath). A released binary requires its own version instead.`,
		Example: `  micro new orders
  micro new orders --module github.com/acme/orders --dir services/orders
  micro new orders --micro-dir ~/src/micro
  cd orders && go run .`,
		Args: cmdutil.ExactArgs(1, "a service name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if err := validateName(opts.Name); err != nil {
				return &cmdutil.UsageError{Err: fmt.Errorf("new: %w", err)}
			}
			if opts.Module != "" {
				if err := validateModulePath(opts.Module); err != nil {
					return &cmdutil.UsageError{Err: fmt.Errorf("new: --module: %w", err)}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return newRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "directory to write the service to (default ./NAME)")
	cmd.Flags().StringVar(&opts.Module, "module", "", "Go module path of the service (default NAME)")
	cmd.Flags().StringVar(&opts.MicroDir, "micro-dir", "", "micro checkout for the replace directive in go.mod (default: the checkout this binary was built from)")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "write into a directory that is not empty, replacing files of the same names")
	cmd.Flags().BoolVar(&opts.NoTidy, "no-tidy", false, "do not run 'go mod tidy' in the new directory (it then needs one before it builds)")
	return cmd
}

func newRun(ctx context.Context, opts *Options) error {
	if opts.Build == (buildSource{}) {
		opts.Build = currentBuild()
	}
	if opts.GoVersion == "" {
		opts.GoVersion = runtime.Version()
	}
	if opts.GOROOT == "" {
		// What go/build's Default.GOROOT holds, without linking go/build
		// (whose package initialisation every command would pay for).
		if goroot := runtime.GOROOT(); goroot != "" {
			opts.GOROOT = filepath.Clean(goroot)
		}
	}
	dir := opts.Dir
	if dir == "" {
		dir = opts.Name
	}
	module := opts.Module
	if module == "" {
		module = opts.Name
	}
	if shadowsStandardLibrary(opts.GOROOT, module) {
		return cmdutil.Usagef("new: module path %q would shadow the standard library package of that name: give another with --module, such as example.com/%s", module, opts.Name)
	}
	micro, err := resolveMicro(opts.MicroDir, opts.Build)
	if err != nil {
		return fmt.Errorf("new: %w", err)
	}

	goLine, goImage := goVersions(opts.GoVersion)
	files, err := render(ctx, newTemplateData(opts.Name, module, micro, goLine, goImage))
	if err != nil {
		return err
	}
	if err := checkTarget(dir, opts.Force); err != nil {
		if errors.Is(err, errNotEmpty) {
			return cmdutil.WithHint(fmt.Errorf("new: %w", err), "choose another directory with --dir, or pass --force to write into it (files of the same names are replaced, others kept)")
		}
		return fmt.Errorf("new: %w", err)
	}
	if err := writeFiles(dir, files); err != nil {
		return fmt.Errorf("new: write %s: %w", dir, err)
	}
	fmt.Fprintf(opts.IO.ErrOut, "wrote %d files to %s\n", len(files), dir)

	paths := make([]string, 0, len(files)+1)
	for _, f := range files {
		paths = append(paths, f.path)
	}
	if !opts.NoTidy {
		fmt.Fprintf(opts.IO.ErrOut, "running go mod tidy in %s ...\n", dir)
		if err := tidy(ctx, dir); err != nil {
			return cmdutil.WithHint(fmt.Errorf("new: the service is written, but %w", err), "run 'go mod tidy' in "+dir+" once the Go module proxy is reachable")
		}
		if _, err := os.Stat(filepath.Join(dir, "go.sum")); err == nil {
			paths = append(paths, "go.sum")
		}
	}

	if err := writeTree(opts.IO.Out, dir, paths); err != nil {
		return err
	}
	return writeNextSteps(opts, dir, micro)
}

// tidy runs `go mod tidy` in dir, outside any go.work, so that the new
// module has its requirements and go.sum and builds at once.
func tidy(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "mod", "tidy")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		if errors.Is(err, exec.ErrNotFound) {
			return fmt.Errorf("the go command is not on PATH: %w", err)
		}
		return fmt.Errorf("go mod tidy failed: %w: %s", err, strings.TrimSpace(out.String()))
	}
	return nil
}

func writeNextSteps(opts *Options, dir string, micro microRequirement) error {
	name := opts.Name
	service := camel(name)
	var b strings.Builder
	b.WriteString("\nNext:\n")
	fmt.Fprintf(&b, "  cd %s\n", dir)
	if opts.NoTidy {
		b.WriteString("  go mod tidy\n")
	}
	b.WriteString("  go test ./...\n")
	b.WriteString("  micro server                  # in another terminal, unless one runs already\n")
	b.WriteString("  go run .                      # in another terminal\n")
	fmt.Fprintf(&b, "  micro call %s %s.Hello '{\"name\":\"Ada\"}'\n", name, service)
	fmt.Fprintf(&b, "  micro stream %s %s.Stream '{\"name\":\"Ada\",\"count\":3}'\n", name, service)
	fmt.Fprintf(&b, "  micro publish %s.%s '{\"name\":\"Ada\"}'\n", name, strings.ToLower(eventName))
	b.WriteString("After editing proto/" + name + ".proto: go generate ./...  (or micro gen)\n")
	if micro.Dir != "" {
		fmt.Fprintf(&b, "go.mod builds against the micro checkout in %s (see README.md).\n", micro.Dir)
	}
	_, err := fmt.Fprint(opts.IO.Out, b.String())
	return err
}
