// Package httpfast serves the plainest shape of HTTP/1.1 request without
// net/http's work per request, and hands every other connection to a
// net/http Server.
//
// The fast shape is what API clients send over and over on a kept-alive
// connection: a POST whose whole head fits in the connection's 4 KB read
// buffer, with one Host, one Content-Length and nothing that changes how
// the message is framed or what the connection becomes (no
// Transfer-Encoding, Expect, Upgrade or HTTP2-Settings, and a Connection
// header of keep-alive or close at most). Such a request is parsed here
// under rules stricter than net/http's and handed to the Handler with a
// ResponseWriter that buffers the answer and writes it with a
// Content-Length, or as chunks once flushed (streams, trailers).
//
// Anything else — a GET, a chunked or 100-continue upload, an upgrade to
// WebSocket or h2c, HTTP/2 with prior knowledge, HTTP/1.0, a head too
// large or malformed — is left unread and the connection is handed, with
// its bytes intact, to the Fallback server, which serves it from then on,
// errors included. So net/http decides every case this package does not
// take, and answers as it always does.
//
// What the fast path does not do: it does not watch the connection while
// the handler runs, so a request's context ends when the handler returns
// or the server shuts down, not when the client goes away (the handler's
// next write fails then); 1xx responses written by a handler are dropped;
// and http.MaxBytesReader cannot tell it to close the connection (the
// unread rest of a body is discarded, or the connection closed when over
// 256 KB).
package httpfast

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of Server's timeouts.
const (
	DefaultReadHeaderTimeout = 10 * time.Second
	DefaultIdleTimeout       = 2 * time.Minute
)

// bufferSize is the size of a connection's read and write buffers; a head
// must fit in the read buffer to take the fast path.
const bufferSize = 4096

// maxDiscard is the most of a request body left unread by a handler that
// is read and dropped to keep the connection; past it the connection is
// closed after the response.
const maxDiscard = 256 << 10

// Server serves HTTP/1.1 connections: the fast shape itself, the rest
// through Fallback.
type Server struct {
	// Handler serves the requests of the fast path. Fallback.Handler
	// serves the others; set both to the same handler.
	Handler http.Handler
	// Fallback serves the connections handed to it (Serve runs its Serve
	// on a listener of those). Its protocols, timeouts and ErrorLog apply
	// to them; its ErrorLog also gets the fast path's handler panics (the
	// log package's standard logger when nil, as with net/http).
	Fallback *http.Server
	// ReadHeaderTimeout bounds the time from a request's first byte to
	// the end of its head. Zero: DefaultReadHeaderTimeout.
	ReadHeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive
	// connection. Zero: DefaultIdleTimeout.
	IdleTimeout time.Duration

	mu        sync.Mutex
	conns     map[*conn]struct{}
	listeners map[net.Listener]struct{}
	handoff   *handoffListener
	closing   atomic.Bool
	active    atomic.Int64 // requests being served on the fast path
	ctx       context.Context
	cancel    context.CancelFunc
}

// ErrServerClosed is what Serve returns after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// Serve accepts connections on ln until Shutdown or Close, serving each
// on its own goroutine. It returns ErrServerClosed after those.
func (s *Server) Serve(ln net.Listener) error {
	if s.Handler == nil || s.Fallback == nil {
		return errors.New("httpfast: Server needs a Handler and a Fallback")
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.conns == nil {
		s.conns = make(map[*conn]struct{})
		s.listeners = make(map[net.Listener]struct{})
		s.ctx, s.cancel = context.WithCancel(context.Background())
	}
	s.listeners[ln] = struct{}{}
	if s.handoff == nil {
		s.handoff = newHandoffListener(ln.Addr())
		go func() { _ = s.Fallback.Serve(s.handoff) }()
	}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var delay time.Duration // after a temporary Accept error, as net/http does
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			// Out of file descriptors, say: wait and accept again, as
			// net/http does.
			if te, ok := err.(interface{ Temporary() bool }); ok && te.Temporary() {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		c := s.newConn(nc)
		if c == nil {
			_ = nc.Close()
			continue
		}
		go c.serve()
	}
}

// Shutdown stops accepting connections, closes the idle ones, waits for
// the requests being served to finish (or ctx to end, which closes the
// rest), and shuts the Fallback down with ctx.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopAccepting()
	fallbackDone := make(chan error, 1)
	go func() { fallbackDone <- s.Fallback.Shutdown(ctx) }()
	err := s.waitIdle(ctx)
	s.closeConns()
	if ferr := <-fallbackDone; err == nil {
		err = ferr
	}
	return err
}

// waitIdle waits until no request is served on the fast path, or ctx ends;
// it polls, as http.Server.Shutdown does.
func (s *Server) waitIdle(ctx context.Context) error {
	wait := time.Millisecond
	for s.active.Load() > 0 {
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			timer.Stop()
			return ctx.Err()
		case <-timer.C:
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
	return nil
}

// Close closes the listeners and every connection at once, the
// Fallback's too.
func (s *Server) Close() error {
	s.stopAccepting()
	s.closeConns()
	return s.Fallback.Close()
}

func (s *Server) stopAccepting() {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		if !c.busy.Load() {
			_ = c.nc.Close()
		}
	}
}

func (s *Server) closeConns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cancel != nil {
		s.cancel()
	}
	for c := range s.conns {
		_ = c.nc.Close()
	}
}

func (s *Server) newConn(nc net.Conn) *conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return nil
	}
	c := &conn{server: s, nc: nc, remote: nc.RemoteAddr().String()}
	c.ctx = context.WithValue(context.WithValue(s.ctx, http.ServerContextKey, s.Fallback), http.LocalAddrContextKey, nc.LocalAddr())
	s.conns[c] = struct{}{}
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

func (s *Server) logf(format string, args ...any) {
	if s.Fallback.ErrorLog != nil {
		s.Fallback.ErrorLog.Printf(format, args...)
		return
	}
	log.Printf(format, args...)
}

func (s *Server) readHeaderTimeout() time.Duration {
	if s.ReadHeaderTimeout > 0 {
		return s.ReadHeaderTimeout
	}
	return DefaultReadHeaderTimeout
}

func (s *Server) idleTimeout() time.Duration {
	if s.IdleTimeout > 0 {
		return s.IdleTimeout
	}
	return DefaultIdleTimeout
}

// conn is one connection on the fast path.
type conn struct {
	server *Server
	nc     net.Conn
	remote string
	ctx    context.Context
	busy   atomic.Bool // reading or serving a request (not idle)
	br     *bufio.Reader
	bw     *bufio.Writer
	w      response // reused request after request
}

var (
	readerPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, bufferSize) }}
	writerPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, bufferSize) }}
)

func (c *conn) serve() {
	c.br = readerPool.Get().(*bufio.Reader)
	c.br.Reset(c.nc)
	c.bw = writerPool.Get().(*bufio.Writer)
	c.bw.Reset(c.nc)
	handedOff := false
	defer func() {
		c.server.forget(c)
		if !handedOff {
			_ = c.bw.Flush() // the answers to pipelined requests, if any
			_ = c.nc.Close()
			c.br.Reset(nil)
			readerPool.Put(c.br)
		}
		c.bw.Reset(nil)
		writerPool.Put(c.bw)
	}()
	first := true
	for {
		head, fast, err := c.readHead(first)
		if err != nil {
			return // the client went away, or was silent too long
		}
		var req *http.Request
		if fast {
			req, fast = parseRequest(head)
		}
		if !fast {
			// net/http serves it (or answers its error) from here on,
			// after the answers to the requests before it.
			if c.bw.Flush() != nil {
				return
			}
			handedOff = c.server.handoff.give(&handoffConn{Conn: c.nc, r: c.br})
			return
		}
		first = false
		_, _ = c.br.Discard(len(head))
		c.server.active.Add(1)
		keep := c.serveRequest(req)
		c.server.active.Add(-1)
		c.busy.Store(false)
		if !keep || c.server.closing.Load() {
			return
		}
	}
}

// readHead waits for a whole head in the read buffer and returns it (up to
// and with its blank line) without consuming it, with fast set. What
// cannot be the head of a fast request (another method, a bare LF), a head
// that does not fit in the buffer and a connection that ends inside one
// are returned with fast unset, for the Fallback to judge. Before it waits
// for more of a request it sends the answers kept for pipelined ones.
func (c *conn) readHead(first bool) (head []byte, fast bool, err error) {
	wait := c.server.idleTimeout()
	if first {
		wait = c.server.readHeaderTimeout()
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(wait))
	if c.br.Buffered() == 0 {
		if err := c.bw.Flush(); err != nil {
			return nil, false, err
		}
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, false, err
	}
	// From its first byte a request is the server's to answer: Shutdown
	// no longer closes the connection as idle.
	c.busy.Store(true)
	if !first {
		_ = c.nc.SetReadDeadline(time.Now().Add(c.server.readHeaderTimeout()))
	}
	for {
		buffered, _ := c.br.Peek(c.br.Buffered())
		switch end := headEnd(buffered); {
		case end > 0:
			_ = c.nc.SetReadDeadline(time.Time{})
			return buffered[:end], true, nil
		case end < 0 || len(buffered) == bufferSize:
			return nil, false, nil // not for the fast path, or too large for it
		}
		if err := c.bw.Flush(); err != nil {
			return nil, false, err
		}
		if _, err := c.br.Peek(len(buffered) + 1); err != nil {
			if c.br.Buffered() == 0 {
				return nil, false, err
			}
			return nil, false, nil // a head cut short: the Fallback answers it
		}
	}
}

// serveRequest runs the handler for req and writes its response; it
// tells whether the connection may carry another request.
func (c *conn) serveRequest(req *http.Request) (keep bool) {
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	body := &bodyReader{r: c.br, n: req.ContentLength}
	req.Body = body
	req.RemoteAddr = c.remote
	req = req.WithContext(ctx)
	w := &c.w
	w.reset(c, req.Close)
	if !c.runHandler(w, req) {
		return false
	}
	if body.n > 0 {
		if body.n > maxDiscard {
			w.close = true
		} else if _, err := body.discard(); err != nil {
			w.close = true
		}
	}
	if err := w.finish(); err != nil {
		return false
	}
	if c.br.Buffered() == 0 || w.close {
		// A pipelined request waiting in the buffer shares this flush.
		if err := c.bw.Flush(); err != nil {
			return false
		}
	}
	return !w.close
}

// runHandler calls the handler, recovering from a panic as net/http does:
// the connection is closed, and the panic logged unless it is
// http.ErrAbortHandler.
func (c *conn) runHandler(w *response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			ok = false
			if v != http.ErrAbortHandler {
				c.server.logf("http: panic serving %s: %v\n%s", c.remote, v, debug.Stack())
			}
		}
	}()
	c.server.Handler.ServeHTTP(w, req)
	return true
}

// bodyReader is a request body of a known length read off the connection.
type bodyReader struct {
	r *bufio.Reader
	n int64 // bytes left
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.r.Read(p)
	b.n -= int64(k)
	if err != nil {
		if b.n > 0 {
			return k, io.ErrUnexpectedEOF
		}
		return k, err
	}
	if b.n == 0 {
		return k, io.EOF
	}
	return k, nil
}

func (b *bodyReader) Close() error { return nil }

func (b *bodyReader) discard() (int, error) {
	k, err := b.r.Discard(int(b.n))
	b.n -= int64(k)
	return k, err
}
