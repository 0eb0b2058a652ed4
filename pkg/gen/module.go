package gen

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
)

// FindModule returns the directory and the module path of the go.mod file
// in dir or the nearest directory above it. It returns an error matching
// fs.ErrNotExist when there is none.
func FindModule(dir string) (root, modulePath string, err error) {
	dir, err = filepath.Abs(dir)
	if err != nil {
		return "", "", fmt.Errorf("gen: %w", err)
	}
	for {
		modulePath, err := ReadModulePath(filepath.Join(dir, "go.mod"))
		if err == nil {
			return dir, modulePath, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return "", "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", "", fmt.Errorf("gen: no go.mod in %s or above: %w", dir, fs.ErrNotExist)
		}
		dir = parent
	}
}

// ReadModulePath returns the module path a go.mod file declares.
func ReadModulePath(goMod string) (string, error) {
	f, err := os.Open(goMod)
	if err != nil {
		return "", err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		rest, ok := strings.CutPrefix(strings.TrimSpace(scanner.Text()), "module")
		if !ok || rest == "" || !strings.ContainsRune(" \t\"", rune(rest[0])) {
			continue
		}
		if i := strings.Index(rest, "//"); i >= 0 {
			rest = rest[:i]
		}
		rest = strings.TrimSpace(rest)
		if unquoted, err := strconv.Unquote(rest); err == nil {
			rest = unquoted
		}
		if rest != "" {
			return rest, nil
		}
	}
	if err := scanner.Err(); err != nil {
		return "", fmt.Errorf("gen: read %s: %w", goMod, err)
	}
	return "", fmt.Errorf("gen: %s has no module line", goMod)
}

// ModuleGoPackage returns an Options.GoPackage function for .proto files
// named relative to root: a file gets the Go package of its directory in
// the Go module that encloses it (example.com/orders/proto for
// proto/orders.proto in module example.com/orders), or none outside a
// module.
func ModuleGoPackage(root string) func(file string) string {
	return func(file string) string {
		dir, err := filepath.Abs(filepath.Join(root, filepath.FromSlash(path.Dir(file))))
		if err != nil {
			return ""
		}
		modDir, modulePath, err := FindModule(dir)
		if err != nil {
			return ""
		}
		rel, err := filepath.Rel(modDir, dir)
		switch {
		case err != nil:
			return ""
		case rel == ".":
			return modulePath
		default:
			return modulePath + "/" + filepath.ToSlash(rel)
		}
	}
}
