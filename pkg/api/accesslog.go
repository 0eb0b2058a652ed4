package api

import (
	"io"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// NewAccessLog returns a logger for Options.Logger that writes what
// slog.NewTextHandler(w, nil) writes (slog.NewJSONHandler(w, nil) when
// json is true), line for line. The gateway writes its own access log
// records to it without slog's work per attribute: a record of a request
// is formatted at once into a buffer kept for reuse, and written to w with
// one Write. Records of other kinds, and records with values the direct
// form does not write (text that is not ASCII), go through slog as usual.
// Writes to w are serialized.
func NewAccessLog(w io.Writer, json bool) *slog.Logger {
	lw := &lockedWriter{w: w}
	h := &accessLogHandler{out: lw, json: json}
	if json {
		h.Handler = slog.NewJSONHandler(lw, nil)
	} else {
		h.Handler = slog.NewTextHandler(lw, nil)
	}
	return slog.New(h)
}

// lockedWriter serializes the writes of slog's handler and of the direct
// form, which share w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// accessLogHandler is slog's text or JSON handler, and the direct form of
// the gateway's request records (logRequest). WithAttrs and WithGroup
// return slog's handlers: a logger derived from it logs through slog only.
type accessLogHandler struct {
	slog.Handler
	out  *lockedWriter
	json bool
	bufs sync.Pool // *[]byte
}

// accessRecord is what the access log says of one request, in the order
// of its attributes.
type accessRecord struct {
	time     time.Time
	level    slog.Level
	method   string
	path     string
	status   int
	protocol string
	took     time.Duration
	bytes    int64
	remote   string
	service  string // with endpoint and code, only for calls
	endpoint string
	code     string
	err      string // only when there is one
}

// largestPooledLine bounds the buffers kept for reuse.
const largestPooledLine = 16 << 10

// logRequest writes rec as slog's handler would, and reports whether it
// did: false when a value has bytes outside ASCII, which slog's own code
// then writes.
func (h *accessLogHandler) logRequest(rec *accessRecord) (bool, error) {
	bp, _ := h.bufs.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	var line []byte
	var ok bool
	if h.json {
		line, ok = appendJSONRecord((*bp)[:0], rec)
	} else {
		line, ok = appendTextRecord((*bp)[:0], rec)
	}
	var err error
	if ok {
		_, err = h.out.Write(line)
	}
	if cap(line) <= largestPooledLine {
		*bp = line[:0]
		h.bufs.Put(bp)
	}
	return ok, err
}

// appendTextRecord appends rec as slog's text handler writes it (no
// options).
func appendTextRecord(b []byte, rec *accessRecord) ([]byte, bool) {
	ok := true
	str := func(key, value string) {
		b = append(b, ' ')
		b = append(b, key...)
		b = append(b, '=')
		var quote bool
		quote, ok = textNeedsQuoting(value, ok)
		if quote {
			b = strconv.AppendQuote(b, value)
		} else {
			b = append(b, value...)
		}
	}
	num := func(key string, n int64) {
		b = append(b, ' ')
		b = append(b, key...)
		b = append(b, '=')
		b = strconv.AppendInt(b, n, 10)
	}
	if !rec.time.IsZero() {
		b = append(b, "time="...)
		b = appendRFC3339Millis(b, rec.time.Round(0))
		b = append(b, ' ')
	}
	b = append(b, "level="...)
	b = append(b, rec.level.String()...)
	b = append(b, " msg=request"...)
	rec.eachAttr(str, num, func(key string, d time.Duration) {
		b = append(b, ' ')
		b = append(b, key...)
		b = append(b, '=')
		b = append(b, d.String()...)
	})
	return append(b, '\n'), ok
}

// eachAttr gives rec's attributes after the message, in the order slog
// writes them, to str, num and dur by kind.
func (rec *accessRecord) eachAttr(str func(key, value string), num func(key string, n int64), dur func(key string, d time.Duration)) {
	str("method", rec.method)
	str("path", rec.path)
	num("status", int64(rec.status))
	str("protocol", rec.protocol)
	dur("took", rec.took)
	num("bytes", rec.bytes)
	str("remote", rec.remote)
	if rec.service != "" {
		str("service", rec.service)
		str("endpoint", rec.endpoint)
		str("code", rec.code)
	}
	if rec.err != "" {
		str("error", rec.err)
	}
}

// textNeedsQuoting tells whether slog's text handler quotes s, for s of
// ASCII bytes; ok becomes false (and stays so) when s has others.
func textNeedsQuoting(s string, ok bool) (quote, stillOK bool) {
	if s == "" {
		return true, ok
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			return true, false
		case c < 0x20, c == ' ', c == '=', c == '"':
			quote = true
		}
	}
	return quote, ok
}

// appendRFC3339Millis is the time as slog's text handler writes it:
// RFC 3339 with exactly three digits of milliseconds.
func appendRFC3339Millis(b []byte, t time.Time) []byte {
	const prefixLen = len("2006-01-02T15:04:05.000")
	n := len(b)
	// RFC3339Nano drops trailing zeros: a tenth of a millisecond more
	// keeps four digits, of which the fourth is dropped.
	t = t.Truncate(time.Millisecond).Add(time.Millisecond / 10)
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b[:n+prefixLen], b[n+prefixLen+1:]...)
}

// appendJSONRecord appends rec as slog's JSON handler writes it (no
// options).
func appendJSONRecord(b []byte, rec *accessRecord) ([]byte, bool) {
	ok := true
	str := func(key, value string) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':', '"')
		b, ok = appendJSONString(b, value, ok)
		b = append(b, '"')
	}
	num := func(key string, n int64) {
		b = append(b, ',', '"')
		b = append(b, key...)
		b = append(b, '"', ':')
		b = strconv.AppendInt(b, n, 10)
	}
	b = append(b, '{')
	if !rec.time.IsZero() {
		if y := rec.time.Year(); y < 0 || y >= 10000 {
			return b, false // slog writes an error for it
		}
		b = append(b, `"time":"`...)
		b = rec.time.Round(0).AppendFormat(b, time.RFC3339Nano)
		b = append(b, `",`...)
	}
	b = append(b, `"level":"`...)
	b = append(b, rec.level.String()...)
	b = append(b, `","msg":"request"`...)
	rec.eachAttr(str, num, func(key string, d time.Duration) { num(key, int64(d)) })
	return append(b, '}', '\n'), ok
}

// appendJSONString appends s escaped as slog's JSON handler escapes it,
// for s of ASCII bytes; ok becomes false (and stays so) when s has others.
func appendJSONString(b []byte, s string, ok bool) ([]byte, bool) {
	const hex = "0123456789abcdef"
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 0x80:
			return b, false
		case c == '"', c == '\\':
			b = append(b, '\\', c)
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
		default:
			b = append(b, c)
		}
	}
	return b, ok
}
