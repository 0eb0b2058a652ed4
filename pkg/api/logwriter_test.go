package api_test

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/api"
)

// countingWriter counts the writes that reach it.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	err    error
}

func (c *countingWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	if c.err != nil {
		return 0, c.err
	}
	return c.buf.Write(p)
}

func (c *countingWriter) state() (string, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String(), c.writes
}

func TestLogWriterGathers(t *testing.T) {
	out := &countingWriter{}
	lw := api.NewLogWriter(out, time.Hour)
	t.Cleanup(func() { _ = lw.Close() })
	for i := range 100 {
		fmt.Fprintf(lw, "line %d\n", i)
	}
	if text, writes := out.state(); writes != 0 || text != "" {
		t.Fatalf("before the delay: want nothing written out, have %d writes: %q", writes, text)
	}
	if err := lw.Flush(); err != nil {
		t.Fatal(err)
	}
	text, writes := out.state()
	if writes != 1 {
		t.Errorf("want the 100 lines in one write, have %d writes", writes)
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 100 || lines[0] != "line 0" || lines[99] != "line 99" {
		t.Errorf("want lines 0 to 99 in order, have %d: %q ... %q", len(lines), lines[0], lines[len(lines)-1])
	}
}

func TestLogWriterDelay(t *testing.T) {
	out := &countingWriter{}
	lw := api.NewLogWriter(out, 20*time.Millisecond)
	t.Cleanup(func() { _ = lw.Close() })
	written := time.Now()
	fmt.Fprintln(lw, "first")
	fmt.Fprintln(lw, "second")
	deadline := time.Now().Add(5 * time.Second)
	for {
		text, writes := out.state()
		if text == "first\nsecond\n" {
			if writes != 1 {
				t.Errorf("want one write out, have %d", writes)
			}
			if took := time.Since(written); took < 20*time.Millisecond {
				t.Errorf("written out after %v, before the delay of 20ms", took)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not written out 5s after the delay of 20ms: %q", text)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestLogWriterLimit(t *testing.T) {
	out := &countingWriter{}
	lw := api.NewLogWriter(out, time.Hour)
	t.Cleanup(func() { _ = lw.Close() })
	line := strings.Repeat("x", 1023) + "\n"
	for range 64 { // 64 KiB
		_, _ = lw.Write([]byte(line))
	}
	if text, writes := out.state(); writes != 1 || len(text) != 64*len(line) {
		t.Errorf("at 64 KiB: want one write out of all of it, have %d writes of %d bytes", writes, len(text))
	}
}

func TestLogWriterConcurrentOrder(t *testing.T) {
	out := &countingWriter{}
	lw := api.NewLogWriter(out, time.Millisecond)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 500 {
				fmt.Fprintf(lw, "w%d %04d %s\n", w, i, strings.Repeat("y", 100))
			}
		})
	}
	wg.Wait()
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	text, _ := out.state()
	last := map[string]int{}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	if len(lines) != 8*500 {
		t.Fatalf("want %d lines, have %d", 8*500, len(lines))
	}
	for _, l := range lines {
		var w string
		var i int
		if _, err := fmt.Sscanf(l, "%s %d", &w, &i); err != nil || len(l) != len(w)+6+100 {
			t.Fatalf("broken line %q", l)
		}
		if prev, ok := last[w]; ok && i != prev+1 {
			t.Fatalf("%s: line %d after %d", w, i, prev)
		}
		last[w] = i
	}
}

func TestLogWriterCloseAndError(t *testing.T) {
	out := &countingWriter{}
	lw := api.NewLogWriter(out, time.Hour)
	fmt.Fprintln(lw, "kept")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintln(lw, "after close")
	if text, _ := out.state(); text != "kept\nafter close\n" {
		t.Errorf("want what was kept at Close and what came after, have %q", text)
	}

	broken := &countingWriter{err: errors.New("disk full")}
	lw = api.NewLogWriter(broken, time.Hour)
	fmt.Fprintln(lw, "lost")
	if err := lw.Close(); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("want the writer's error from Close, have %v", err)
	}
}
