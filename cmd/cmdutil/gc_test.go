package cmdutil

import (
	"runtime/debug"
	"testing"
)

// TestLessGarbageCollection: the target is ServingGCPercent until restore
// puts the previous one back; with GOGC in the environment it stays as it
// is.
func TestLessGarbageCollection(t *testing.T) {
	original := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(original) })
	gcPercent := func() int {
		p := debug.SetGCPercent(-1)
		debug.SetGCPercent(p)
		return p
	}

	f := &Factory{Env: func(string) (string, bool) { return "", false }}
	restore := f.LessGarbageCollection()
	if have := gcPercent(); have != ServingGCPercent {
		t.Errorf("GOGC unset: want %d, have %d", ServingGCPercent, have)
	}
	restore()
	if have := gcPercent(); have != 100 {
		t.Errorf("after restore: want 100, have %d", have)
	}

	f = &Factory{Env: func(key string) (string, bool) { return "150", key == "GOGC" }}
	restore = f.LessGarbageCollection()
	if have := gcPercent(); have != 100 {
		t.Errorf("GOGC set: want the target left at 100, have %d", have)
	}
	restore()
}
