package new

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"

	codegen "github.com/microtools/micro/pkg/gen"
)

// microModule is the module a new service builds on.
const microModule = "github.com/microtools/micro"

// unpublishedVersion is what go.mod requires of a module that a replace
// directive provides.
const unpublishedVersion = "v0.0.0-00010101000000-000000000000"

// microRequirement is how the new service's go.mod gets micro: a version,
// and the local checkout that replaces it, if any.
type microRequirement struct {
	Version string
	Dir     string
}

// buildSource is what the running binary knows about where it came from.
type buildSource struct {
	// SourceFile is the path of a source file of this package as the
	// compiler saw it: absolute when built from a checkout, relative to the
	// module with -trimpath.
	SourceFile string
	// Version is the main module's version: a release when installed with
	// go install module@version, "(devel)" or a pseudo-version otherwise.
	Version string
}

// currentBuild reads the running binary's build information.
func currentBuild() buildSource {
	var src buildSource
	if _, file, _, ok := runtime.Caller(0); ok {
		src.SourceFile = file
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Path == microModule {
		src.Version = info.Main.Version
	}
	return src
}

// resolveMicro decides how the service requires micro. A directory given
// with --micro-dir wins; then the checkout this binary was built from, when
// it is still there; then the release this binary is, when it is one.
func resolveMicro(microDir string, build buildSource) (microRequirement, error) {
	if microDir != "" {
		dir, err := checkMicroDir(microDir)
		if err != nil {
			return microRequirement{}, err
		}
		return microRequirement{Version: unpublishedVersion, Dir: dir}, nil
	}
	if dir, ok := builtFrom(build.SourceFile); ok {
		return microRequirement{Version: unpublishedVersion, Dir: dir}, nil
	}
	if isRelease(build.Version) {
		return microRequirement{Version: build.Version}, nil
	}
	return microRequirement{}, fmt.Errorf("cannot tell which micro the service should build on: this binary was not built from a checkout that is still on disk, nor is it a release; pass --micro-dir with the path of a checkout of %s", microModule)
}

// checkMicroDir returns the absolute path of dir after checking that it
// holds the micro module.
func checkMicroDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("--micro-dir %s: %w", dir, err)
	}
	path, err := codegen.ReadModulePath(filepath.Join(abs, "go.mod"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("--micro-dir %s has no go.mod: give the root of a checkout of %s", dir, microModule)
	case err != nil:
		return "", fmt.Errorf("--micro-dir %s: %w", dir, err)
	case path != microModule:
		return "", fmt.Errorf("--micro-dir %s holds module %s, not %s: give the root of a checkout of micro", dir, path, microModule)
	}
	return abs, nil
}

// builtFrom returns the root of the micro checkout that sourceFile (this
// package's file, as compiled) lies in, if it is still on disk. Module
// cache directories (module@version) do not count: a binary installed from
// a release requires that release instead.
func builtFrom(sourceFile string) (string, bool) {
	if sourceFile == "" || !filepath.IsAbs(sourceFile) {
		return "", false // -trimpath
	}
	root := filepath.Dir(filepath.Dir(filepath.Dir(sourceFile))) // .../cmd/new/micro.go
	if strings.Contains(root, "@") {
		return "", false
	}
	if path, err := codegen.ReadModulePath(filepath.Join(root, "go.mod")); err != nil || path != microModule {
		return "", false
	}
	return root, true
}

// releaseVersion matches vX.Y.Z with an optional pre-release, and not a
// pseudo-version or a +dirty build.
// Both are compiled on first use, not at start-up.
var releaseVersion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?$`) })

var pseudoVersion = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\d{14}-[0-9a-f]{12}$`) })

func isRelease(version string) bool {
	return releaseVersion().MatchString(version) && !pseudoVersion().MatchString(version)
}

// goVersions returns the go line of the new go.mod (the running binary's Go
// release, "1.26.8") and the tag of the golang image that builds it
// ("1.26").
func goVersions(runtimeVersion string) (goLine, image string) {
	m := regexp.MustCompile(`^go(\d+)\.(\d+)(\.\d+)?`).FindStringSubmatch(runtimeVersion)
	if m == nil {
		return "1.26", "1.26" // a development toolchain
	}
	return m[1] + "." + m[2] + m[3], m[1] + "." + m[2]
}
