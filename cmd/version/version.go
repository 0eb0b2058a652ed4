// Package version implements `micro version`.
package version

import (
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/microtools/micro/cmd/cmdutil"
)

// Version is the release of micro, set at link time with
// -ldflags "-X github.com/microtools/micro/cmd/version.Version=v1.2.3".
var Version = "dev"

// Info is what `micro version -o json` prints.
type Info struct {
	Version string `json:"version"`
	Commit  string `json:"commit,omitempty"`
	Go      string `json:"go"`
	OS      string `json:"os"`
	Arch    string `json:"arch"`
}

// Current returns the version of the running binary.
func Current() Info {
	info := Info{Version: Version, Go: runtime.Version(), OS: runtime.GOOS, Arch: runtime.GOARCH}
	if build, ok := debug.ReadBuildInfo(); ok {
		if info.Version == "dev" && build.Main.Version != "" && build.Main.Version != "(devel)" {
			info.Version = build.Main.Version
		}
		for _, s := range build.Settings {
			if s.Key == "vcs.revision" {
				info.Commit = s.Value
			}
		}
	}
	return info
}

// NewCmdVersion returns `micro version`.
func NewCmdVersion(f *cmdutil.Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of micro",
		Args:  cmdutil.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			info := Current()
			if f.Output() == cmdutil.OutputJSON {
				return cmdutil.WriteJSON(f.IO.Out, info)
			}
			commit := ""
			if info.Commit != "" {
				commit = " (" + info.Commit + ")"
			}
			_, err := fmt.Fprintf(f.IO.Out, "micro %s%s %s %s/%s\n", info.Version, commit, info.Go, info.OS, info.Arch)
			return err
		},
	}
}
