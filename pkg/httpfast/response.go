package httpfast

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// maxBuffered is the most of a body kept to be sent with a Content-Length
// once the handler returns, as net/http keeps (its
// bufferBeforeChunkingSize): a larger body is sent in chunks as it is
// written.
const maxBuffered = 2048

// response is the ResponseWriter of the fast path. It keeps the body until
// the handler returns, to send it with a Content-Length; a Flush,
// trailers or a body over maxBuffered send the head with
// Transfer-Encoding: chunked instead, and the body as chunks from then on.
type response struct {
	c           *conn
	header      http.Header
	status      int
	wroteHeader bool // WriteHeader was called (or Write, or Flush)
	sentHead    bool // the head is in the write buffer
	chunked     bool
	close       bool // the connection ends after this response
	body        []byte
	keys        []string // for sorting header keys, reused

	// What WriteHeader saw of the header map (later changes to it are
	// trailers only, as with net/http): the fields rendered, and what of
	// them the framing depends on.
	fields        []byte
	hasType       bool
	hasDate       bool
	hasConnection bool
	length        string   // the handler's Content-Length, if any
	trailers      []string // the names declared in "Trailer"
}

func (w *response) reset(c *conn, closeAfter bool) {
	w.c = c
	if w.header == nil {
		w.header = make(http.Header, 8)
	} else {
		clear(w.header)
	}
	w.status, w.wroteHeader, w.sentHead, w.chunked, w.close = 0, false, false, false, closeAfter
	w.trailers = w.trailers[:0]
	if cap(w.body) > 64<<10 {
		w.body = nil // a large answer's buffer is not kept
	}
	w.body = w.body[:0]
}

// Header is the header map of the response, and its trailers afterwards
// (declared in "Trailer", or keys with http.TrailerPrefix).
func (w *response) Header() http.Header { return w.header }

// WriteHeader sets the status. 1xx statuses are dropped (the fast path
// sends no informational responses); a second call is ignored, and an
// invalid code panics, as with net/http.
func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if w.wroteHeader || code < 200 {
		return
	}
	w.wroteHeader, w.status = true, code
	w.render()
}

// render keeps the header map as it is now: the fields of the head but
// those the framing decides, and the trailer names declared.
func (w *response) render() {
	h := w.header
	w.keys = w.keys[:0]
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || k == "Transfer-Encoding" || k == "Content-Length" {
			continue
		}
		w.keys = append(w.keys, k)
	}
	slices.Sort(w.keys)
	w.fields = w.fields[:0]
	for _, k := range w.keys {
		w.fields = appendField(w.fields, k, h[k])
	}
	_, w.hasType = h["Content-Type"]
	_, w.hasDate = h["Date"]
	w.hasConnection = len(h["Connection"]) > 0
	if slices.ContainsFunc(h["Connection"], func(v string) bool { return strings.EqualFold(v, "close") }) {
		w.close = true
	}
	w.length = h.Get("Content-Length")
	w.trailers = w.trailers[:0]
	for _, declared := range h["Trailer"] {
		for k := range strings.SplitSeq(declared, ",") {
			if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && !forbiddenTrailers[k] {
				w.trailers = append(w.trailers, k)
			}
		}
	}
}

// Write adds p to the body: kept until the handler returns, or written as
// a chunk once the response was flushed.
func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.keeps(len(p)) {
		w.body = append(w.body, p...)
		return len(p), nil
	}
	if !w.sentHead {
		w.startChunked(p) // a large answer goes out as it is written
	}
	if len(p) == 0 {
		return 0, nil
	}
	return len(p), w.writeChunk(p)
}

// WriteString is Write for a string, without copying it when it is kept.
func (w *response) WriteString(s string) (int, error) {
	if !w.wroteHeader || !bodyAllowed(w.status) || !w.keeps(len(s)) {
		return w.Write([]byte(s))
	}
	w.body = append(w.body, s...)
	return len(s), nil
}

// keeps tells whether n more bytes of body are kept for the end rather
// than written out as a chunk.
func (w *response) keeps(n int) bool {
	return !w.chunked && len(w.body)+n <= maxBuffered
}

// Flush sends what was written so far (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends the head and what was written so far, and writes the
// body as chunks from then on (http.ResponseController).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead {
		w.startChunked(nil)
	}
	return w.c.bw.Flush()
}

// startChunked sends the head for a chunked body and what was kept of the
// body as its first chunk; next is what is about to be written, for the
// Content-Type to be sniffed from when nothing was kept.
func (w *response) startChunked(next []byte) {
	w.chunked = bodyAllowed(w.status)
	sniff := w.body
	if len(sniff) == 0 {
		sniff = next
	}
	w.writeHead(-1, sniff)
	if len(w.body) > 0 && w.chunked {
		_ = w.writeChunk(w.body)
	}
	w.body = w.body[:0]
}

// finish ends the response once the handler returned: the head and body
// with a Content-Length, or the last chunk and the trailers.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.sentHead {
		if w.hasTrailers() && bodyAllowed(w.status) {
			w.startChunked(nil)
		} else {
			w.writeHead(len(w.body), w.body)
			_, err := w.c.bw.Write(w.body)
			return err
		}
	}
	if !w.chunked {
		return nil
	}
	bw := w.c.bw
	_, _ = bw.WriteString("0\r\n")
	w.writeTrailers()
	_, err := bw.WriteString("\r\n")
	return err
}

func (w *response) writeChunk(p []byte) error {
	bw := w.c.bw
	var size [16]byte
	_, _ = bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(p)
	_, err := bw.WriteString("\r\n")
	return err
}

// writeHead writes the status line and the fields WriteHeader saw: with
// Content-Length n when n >= 0, chunked otherwise; with a Date, a
// Content-Type sniffed from the start of the body when the handler set
// none, and "Connection: close" when the connection ends after it.
func (w *response) writeHead(n int, start []byte) {
	w.sentHead = true
	bw := w.c.bw
	_, _ = bw.WriteString("HTTP/1.1 ")
	var num [20]byte
	_, _ = bw.Write(strconv.AppendInt(num[:0], int64(w.status), 10))
	_ = bw.WriteByte(' ')
	if text := http.StatusText(w.status); text != "" {
		_, _ = bw.WriteString(text)
	} else {
		_, _ = bw.WriteString("status code " + strconv.Itoa(w.status))
	}
	_, _ = bw.WriteString("\r\n")
	_, _ = bw.Write(w.fields)
	if bodyAllowed(w.status) {
		switch {
		case n < 0:
			_, _ = bw.WriteString("Transfer-Encoding: chunked\r\n")
		case w.length == "" || w.length != strconv.Itoa(n):
			// A handler's wrong length is not sent: the true one is.
			_, _ = bw.WriteString("Content-Length: ")
			_, _ = bw.Write(strconv.AppendInt(num[:0], int64(n), 10))
			_, _ = bw.WriteString("\r\n")
		default:
			_, _ = bw.WriteString("Content-Length: " + w.length + "\r\n")
		}
		if !w.hasType && len(start) > 0 {
			_, _ = bw.WriteString("Content-Type: ")
			_, _ = bw.WriteString(http.DetectContentType(start))
			_, _ = bw.WriteString("\r\n")
		}
	}
	if !w.hasDate {
		_, _ = bw.WriteString("Date: ")
		_, _ = bw.WriteString(httpDate())
		_, _ = bw.WriteString("\r\n")
	}
	if w.close && !w.hasConnection {
		_, _ = bw.WriteString("Connection: close\r\n")
	}
	_, _ = bw.WriteString("\r\n")
}

// hasTrailers tells whether the handler declared or set trailers.
func (w *response) hasTrailers() bool {
	if len(w.trailers) > 0 {
		return true
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// writeTrailers writes the trailer fields after the last chunk: the names
// declared in "Trailer" when WriteHeader was called, with their values
// now, and the keys with http.TrailerPrefix.
func (w *response) writeTrailers() {
	w.keys = append(w.keys[:0], w.trailers...)
	for k := range w.header {
		if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && name != "" {
			w.keys = append(w.keys, k)
		}
	}
	slices.Sort(w.keys)
	w.fields = w.fields[:0]
	for _, k := range slices.Compact(w.keys) {
		if values := w.header[k]; len(values) > 0 {
			w.fields = appendField(w.fields, strings.TrimPrefix(k, http.TrailerPrefix), values)
		}
	}
	_, _ = w.c.bw.Write(w.fields)
}

// appendField appends "Key: value" lines, skipping names that are no
// token and turning CR and LF in values into spaces, as net/http does, so
// that a handler cannot split the response.
func appendField(dst []byte, key string, values []string) []byte {
	if !token([]byte(key)) {
		return dst
	}
	for _, v := range values {
		dst = append(dst, key...)
		dst = append(dst, ": "...)
		if strings.ContainsAny(v, "\r\n") {
			v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
		}
		dst = append(dst, strings.TrimSpace(v)...)
		dst = append(dst, "\r\n"...)
	}
	return dst
}

// forbiddenTrailers may not be sent as trailers (RFC 9110 6.5.1; net/http's
// list).
var forbiddenTrailers = map[string]bool{
	"Authorization": true, "Cache-Control": true, "Connection": true, "Content-Encoding": true,
	"Content-Length": true, "Content-Range": true, "Content-Type": true, "Expect": true, "Host": true,
	"Keep-Alive": true, "Max-Forwards": true, "Pragma": true, "Proxy-Authenticate": true,
	"Proxy-Authorization": true, "Proxy-Connection": true, "Range": true, "Realm": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Www-Authenticate": true,
}

// bodyAllowed tells whether a response of this status may have a body.
func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

// dateCache is the Date header of the current second.
var dateCache atomic.Pointer[datedValue]

type datedValue struct {
	unix  int64
	value string
}

func httpDate() string {
	now := time.Now()
	if d := dateCache.Load(); d != nil && d.unix == now.Unix() {
		return d.value
	}
	d := &datedValue{unix: now.Unix(), value: now.UTC().Format(http.TimeFormat)}
	dateCache.Store(d)
	return d.value
}
