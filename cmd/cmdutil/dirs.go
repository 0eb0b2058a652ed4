package cmdutil

import (
	"fmt"
	"path/filepath"
)

// LookupEnv is how commands read the environment: the function cmd.Run was
// given (os.LookupEnv in the program, a map in tests), never the process's
// own environment.
type LookupEnv func(key string) (string, bool)

// ConfigDir is the base directory of configuration files:
// $XDG_CONFIG_HOME, or $HOME/.config. micro keeps its file in micro/ below
// it.
func ConfigDir(lookupEnv LookupEnv) (string, error) {
	return baseDir(lookupEnv, "XDG_CONFIG_HOME", ".config")
}

// CacheDir is the base directory of caches: $XDG_CACHE_HOME, or
// $HOME/.cache.
func CacheDir(lookupEnv LookupEnv) (string, error) {
	return baseDir(lookupEnv, "XDG_CACHE_HOME", ".cache")
}

// DataDir is the base directory of data files: $XDG_DATA_HOME, or
// $HOME/.local/share.
func DataDir(lookupEnv LookupEnv) (string, error) {
	return baseDir(lookupEnv, "XDG_DATA_HOME", filepath.Join(".local", "share"))
}

// baseDir follows the XDG base directory rules on every platform: the
// variable when it holds an absolute path, else below $HOME. It reads only
// lookupEnv, so a test that sets them to temporary directories is
// hermetic.
func baseDir(lookupEnv LookupEnv, xdgVar, underHome string) (string, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	if dir, ok := lookupEnv(xdgVar); ok && filepath.IsAbs(dir) {
		return dir, nil
	}
	if home, ok := lookupEnv("HOME"); ok && filepath.IsAbs(home) {
		return filepath.Join(home, underHome), nil
	}
	return "", fmt.Errorf("neither $%s nor $HOME is set to an absolute path", xdgVar)
}
