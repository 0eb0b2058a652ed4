// Package gen implements `micro gen [DIR]`: Go code from .proto files, with
// no protoc and no plugin installed.
package gen

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
	"github.com/microtools/micro/cmd/iostreams"
	codegen "github.com/microtools/micro/pkg/gen"
)

// Options are the inputs of `micro gen`.
type Options struct {
	IO     *iostreams.IOStreams
	Output func() string

	// Dir is the service (or directory of .proto files) to generate for.
	Dir string
	// ProtoPaths are the import paths; empty means Dir/proto when it
	// exists, else Dir.
	ProtoPaths []string
	// Check reports files that are out of date instead of writing them.
	Check bool
}

// NewCmdGen returns `micro gen`. runF replaces the run function in tests.
func NewCmdGen(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	opts := &Options{IO: f.IO, Output: f.Output}
	cmd := &cobra.Command{
		Use:   "gen [DIR]",
		Short: "Generate Go code from a service's .proto files, without protoc",
		Long: `Compile the .proto files of a service in process and write the Go code
that protoc-gen-go and protoc-gen-go-grpc would write: NAME.pb.go and
NAME_grpc.pb.go next to each NAME.proto. Nothing needs to be installed:
no protoc, no plugins.

DIR defaults to the current directory. The .proto files are looked for in
DIR/proto when that directory exists, else in DIR itself (recursively,
skipping testdata, vendor and hidden directories), and are named, and
import each other, relative to it; --proto-path chooses other import
paths, the first of which holds the files to generate. The well-known
google/protobuf/*.proto imports are built in.

A file without a go_package option gets the Go package of its directory in
the enclosing Go module. The paths written are printed, one a line.

Services made by 'micro new' run it from 'go generate ./...'.`,
		Example: `  micro gen                      # in a service made by micro new
  micro gen ./orders
  micro gen --check              # exit 1 if the generated code is out of date
  micro gen -I api -I third_party`,
		Args: cmdutil.RangeArgs(0, 1, "at most one directory"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Dir = "."
			if len(args) == 1 {
				opts.Dir = args[0]
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return genRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringArrayVarP(&opts.ProtoPaths, "proto-path", "I", nil, "import path for .proto files (repeatable); the first holds the files to generate (default DIR/proto, or DIR)")
	cmd.Flags().BoolVar(&opts.Check, "check", false, "write nothing; list the files that are out of date and exit 1 if there are any")
	return cmd
}

func genRun(ctx context.Context, opts *Options) error {
	info, err := os.Stat(opts.Dir)
	if err != nil {
		return fmt.Errorf("gen: %w", err)
	}
	if !info.IsDir() {
		return cmdutil.Usagef("gen: %s is not a directory; give the directory of a service or of .proto files", opts.Dir)
	}
	importPaths := opts.ProtoPaths
	if len(importPaths) == 0 {
		importPaths = []string{defaultProtoRoot(opts.Dir)}
	}
	root := importPaths[0]
	files, err := codegen.FindProtoFiles(root)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return cmdutil.WithHint(fmt.Errorf("gen: no .proto files in %s", root), "give the directory that holds them: micro gen DIR, or --proto-path DIR")
	}
	generated, err := codegen.Generate(ctx, codegen.Options{
		ImportPaths: importPaths,
		Files:       files,
		GoPackage:   codegen.ModuleGoPackage(root),
	})
	if err != nil {
		return err
	}

	var paths []string
	if opts.Check {
		if paths, err = codegen.Stale(root, generated); err != nil {
			return err
		}
	} else if paths, err = codegen.WriteFiles(root, generated); err != nil {
		return err
	}
	if err := writePaths(opts, paths); err != nil {
		return err
	}
	if opts.Check && len(paths) > 0 {
		what := fmt.Sprintf("%d generated files in %s are", len(paths), root)
		if len(paths) == 1 {
			what = fmt.Sprintf("1 generated file in %s is", root)
		}
		return cmdutil.WithHint(fmt.Errorf("gen: %s out of date", what), "run micro gen "+opts.Dir)
	}
	return nil
}

func writePaths(opts *Options, paths []string) error {
	if opts.Output() == cmdutil.OutputJSON {
		if paths == nil {
			paths = []string{}
		}
		return cmdutil.WriteJSON(opts.IO.Out, paths)
	}
	for _, p := range paths {
		if _, err := fmt.Fprintln(opts.IO.Out, p); err != nil {
			return err
		}
	}
	return nil
}

// defaultProtoRoot is dir/proto when it is a directory, else dir.
func defaultProtoRoot(dir string) string {
	protoDir := filepath.Join(dir, "proto")
	if info, err := os.Stat(protoDir); err == nil && info.IsDir() {
		return protoDir
	}
	return dir
}
