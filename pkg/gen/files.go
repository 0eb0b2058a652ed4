package gen

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// FindProtoFiles returns the .proto files under root, slash-separated,
// relative to root and sorted: the names to give Options.Files with root
// as the import path. It skips directories whose names start with "." or
// "_", testdata, vendor and node_modules, as the go command does.
func FindProtoFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(d.Name(), ".proto") && d.Type().IsRegular() {
			rel, err := filepath.Rel(root, path)
			if err != nil {
				return err
			}
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("gen: find .proto files in %s: %w", root, err)
	}
	slices.Sort(files)
	return files, nil
}

func skipDir(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") ||
		name == "testdata" || name == "vendor" || name == "node_modules"
}

// WriteFiles writes files under dir, creating directories as needed, and
// returns the paths it wrote. A file whose content is already on disk is
// not rewritten (its modification time stays) but is listed too. It refuses
// a name that would land outside dir.
func WriteFiles(dir string, files []File) ([]string, error) {
	var written []string
	for _, f := range files {
		path, err := outputPath(dir, f.Name)
		if err != nil {
			return written, err
		}
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, f.Content) {
			written = append(written, path)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return written, fmt.Errorf("gen: %w", err)
		}
		if err := os.WriteFile(path, f.Content, 0o644); err != nil {
			return written, fmt.Errorf("gen: %w", err)
		}
		written = append(written, path)
	}
	return written, nil
}

// Stale returns the paths under dir of the files whose content on disk
// differs from files, or that are missing: what WriteFiles would change.
func Stale(dir string, files []File) ([]string, error) {
	var stale []string
	for _, f := range files {
		path, err := outputPath(dir, f.Name)
		if err != nil {
			return nil, err
		}
		old, err := os.ReadFile(path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			stale = append(stale, path)
		case err != nil:
			return nil, fmt.Errorf("gen: %w", err)
		case !bytes.Equal(old, f.Content):
			stale = append(stale, path)
		}
	}
	return stale, nil
}

func outputPath(dir, name string) (string, error) {
	local := filepath.FromSlash(name)
	if !filepath.IsLocal(local) {
		return "", fmt.Errorf("gen: refusing to write %q outside %s", name, dir)
	}
	return filepath.Join(dir, local), nil
}
