package api

import (
	"io"
	"sync"
	"time"
)

// Defaults of NewLogWriter.
const (
	// DefaultLogDelay is how long a LogWriter keeps a record at most
	// before it writes it out.
	DefaultLogDelay = 50 * time.Millisecond
	// logWriterLimit is how much a LogWriter gathers before it writes out
	// at once, whatever the delay.
	logWriterLimit = 64 << 10
)

// LogWriter gathers what is written to it (an access log's records) and
// writes it out to the writer under it in one write, at most a delay after
// the first record was written, or at once when 64 KiB are waiting. Under
// load the access log then costs a write for many requests, not one for
// each. Records keep their order and are never split. It is safe for
// concurrent use. Close writes out what is left; so does Flush.
type LogWriter struct {
	out   io.Writer
	delay time.Duration

	writing sync.Mutex // held while writing out, to keep the order

	mu      sync.Mutex
	buf     []byte // gathered, not written out yet
	spare   []byte // the buffer last written out, for reuse
	pending bool   // the timer is set
	timer   *time.Timer
	closed  bool
	err     error // the first error of the writer under it
}

// NewLogWriter returns a LogWriter over out that writes out at most delay
// after a record (zero: DefaultLogDelay).
func NewLogWriter(out io.Writer, delay time.Duration) *LogWriter {
	if delay <= 0 {
		delay = DefaultLogDelay
	}
	l := &LogWriter{out: out, delay: delay}
	l.timer = time.AfterFunc(time.Hour, func() { _ = l.Flush() })
	l.timer.Stop()
	return l
}

// Write gathers p; it never fails once a write out has failed, but Flush
// and Close return that error. After Close it writes p out at once.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		l.writing.Lock()
		defer l.writing.Unlock()
		return l.out.Write(p)
	}
	l.buf = append(l.buf, p...)
	full := len(l.buf) >= logWriterLimit
	if !full && !l.pending {
		l.pending = true
		l.timer.Reset(l.delay)
	}
	l.mu.Unlock()
	if full {
		_ = l.Flush()
	}
	return len(p), nil
}

// Flush writes out what has been gathered and returns the first error the
// writer under it has returned, if any.
func (l *LogWriter) Flush() error {
	l.writing.Lock()
	defer l.writing.Unlock()
	l.mu.Lock()
	buf := l.buf
	l.buf, l.spare = l.spare[:0], nil
	if l.pending {
		l.pending = false
		l.timer.Stop()
	}
	l.mu.Unlock()
	var err error
	if len(buf) > 0 {
		_, err = l.out.Write(buf)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if cap(buf) <= logWriterLimit*2 {
		l.spare = buf[:0]
	}
	if err != nil && l.err == nil {
		l.err = err
	}
	return l.err
}

// Close writes out what is left; what is written after it goes out at
// once.
func (l *LogWriter) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	return l.Flush()
}
