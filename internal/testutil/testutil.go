// Package testutil holds the small helpers every test package shares. It
// imports only the standard library, so any package's tests may use it.
package testutil

import (
	"bytes"
	"net"
	"sync"
	"testing"
	"time"
)

// Listen listens on a free TCP port of 127.0.0.1, failing the test when it
// cannot; the test closes the listener (or the server serving it).
func Listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// Eventually polls cond until it returns nil, and fails the test with cond's
// last error when within passes first. It polls quickly at first and backs
// off to every 200ms, so a check that runs a process does not hog the CPU.
func Eventually(t testing.TB, within time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(within)
	wait := 5 * time.Millisecond
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not true within %s: %v", within, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

// SyncBuffer is a bytes.Buffer that goroutines may write while a test reads.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
