package testenv

import (
	"os"
	"strconv"
	"testing"
)

// InCI reports whether the tests run in CI: CI set to a true value as
// strconv.ParseBool reads it (true, TRUE, 1, t). CI systems set CI=true or
// CI=1; .ci/run exports CI=true. Every helper asks this one function.
func InCI() bool { return ciValue(os.Getenv("CI")) }

func ciValue(v string) bool {
	on, err := strconv.ParseBool(v)
	return err == nil && on
}

// Unavailable ends t for a dependency that cannot be had: a skip with the
// reason when run by hand, a failure in CI, where a test must never pass by
// skipping.
func Unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI: "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}
