package httpfast

import (
	"bufio"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/microtools/micro/internal/testutil"
)

// pathKey is a request header the test handler answers with the path that
// served the request: "fast" or "fallback".
const pathHeader = "X-Served-By"

// testHandler is what the differential tests serve: each path of the URL
// does something a handler may do with a response.
func testHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"path":%q,"raw_path":%q,"query":%q,"host":%q,"length":%d,"body":%q,"ct":%q,"x":%q}`,
			r.Method, r.URL.Path, r.URL.RawPath, r.URL.RawQuery, r.Host, r.ContentLength, body, r.Header.Get("Content-Type"), r.Header.Values("X-Multi"))
	})
	mux.HandleFunc("/sniff", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html><body>hello</body></html>"))
	})
	mux.HandleFunc("/sniff-large", func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("<html><body>" + strings.Repeat("large ", 1000) + "</body></html>"))
	})
	mux.HandleFunc("/empty", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/nocontent", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Kind", "none")
		w.WriteHeader(http.StatusNoContent)
		_, _ = w.Write([]byte("dropped"))
	})
	mux.HandleFunc("/status", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusTeapot)
		w.WriteHeader(http.StatusInternalServerError) // ignored
		_, _ = io.WriteString(w, "short and stout\n")
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		for i := range 3 {
			fmt.Fprintf(w, "{\"n\":%d}\n", i)
			if err := http.NewResponseController(w).Flush(); err != nil {
				return
			}
		}
		w.Header().Set("Grpc-Status", "0")
	})
	mux.HandleFunc("/trailers", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Declared")
		_, _ = io.WriteString(w, "body")
		w.Header().Set("X-Declared", "yes")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
	})
	mux.HandleFunc("/inject", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Evil", "a\r\nSet-Cookie: stolen=1")
		_, _ = io.WriteString(w, "ok")
	})
	mux.HandleFunc("/unread", func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 3)
		_, _ = io.ReadFull(r.Body, buf)
		_, _ = w.Write(buf)
	})
	mux.HandleFunc("/length", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		_, _ = io.WriteString(w, "hello")
	})
	mux.HandleFunc("/upgrade", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "upgrade="+r.Header.Get("Upgrade")+" proto="+r.Proto)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served := "fallback"
		if _, ok := w.(*response); ok {
			served = "fast"
		}
		w.Header().Set(pathHeader, served)
		mux.ServeHTTP(w, r)
	})
}

// servers starts the same handler behind an httpfast.Server and behind a
// plain http.Server, each on 127.0.0.1, and returns their addresses.
func servers(t *testing.T, h http.Handler) (fast, plain string, s *Server) {
	t.Helper()
	s = &Server{Handler: h, Fallback: &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}}
	ln := testutil.Listen(t)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	plainServer := &http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)}
	pln := testutil.Listen(t)
	go func() { _ = plainServer.Serve(pln) }()
	t.Cleanup(func() { _ = plainServer.Close() })
	return ln.Addr().String(), pln.Addr().String(), s
}

// serveAndDial serves s on a new listener of 127.0.0.1 until the test
// ends and returns a connection to it, closed then too.
func serveAndDial(t *testing.T, s *Server) net.Conn {
	t.Helper()
	ln := testutil.Listen(t)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// exchange writes raw to addr, half-closes nothing, and reads the
// responses to the n requests in it.
func exchange(t *testing.T, addr, raw string, n int) []*answer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	var answers []*answer
	for len(answers) < n {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("reading a response from %s: %v (after %d)", addr, err, len(answers))
		}
		if resp.StatusCode < 200 {
			continue // 100 Continue
		}
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("reading a body from %s: %v", addr, err)
		}
		answers = append(answers, &answer{resp: resp, body: string(body)})
	}
	// What follows the last response: nothing, or the connection's end.
	_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	rest, err := br.ReadByte()
	if err == nil {
		t.Fatalf("%s sent more than %d responses: %q", addr, n, rest)
	}
	if len(answers) > 0 {
		answers[len(answers)-1].closed = errors.Is(err, io.EOF)
	}
	return answers
}

type answer struct {
	resp   *http.Response
	body   string
	closed bool // the server closed the connection after it
}

// comparable is what of an answer must match between the two servers:
// the status, the headers but Date and the path, the body, the trailers
// and whether the body was chunked.
func (a *answer) comparable() string {
	h := a.resp.Header.Clone()
	h.Del("Date")
	h.Del(pathHeader)
	var b strings.Builder
	fmt.Fprintf(&b, "%s\n", a.resp.Status)
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range h {
			if !yield(k) {
				return
			}
		}
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "%s: %q\n", k, h[k])
	}
	body := a.body
	if len(body) > 300 {
		body = fmt.Sprintf("%s...(%d bytes, %x)", body[:200], len(body), sha256.Sum256([]byte(body)))
	}
	fmt.Fprintf(&b, "chunked=%v length=%d close=%v\ntrailer=%v\nbody=%q\n", slices.Contains(a.resp.TransferEncoding, "chunked"), a.resp.ContentLength, a.closed, a.resp.Trailer, body)
	return b.String()
}

func post(path, body string, headers ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: api.test\r\nContent-Length: %d\r\n", path, len(body))
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	b.WriteString("\r\n" + body)
	return b.String()
}

// TestSameAsNetHTTP sends the same bytes to an httpfast.Server and to a
// plain http.Server serving one handler, and wants the same answers (but
// Date), from the fast path for the fast shape and from the Fallback for
// everything else.
func TestSameAsNetHTTP(t *testing.T) {
	fast, plain, _ := servers(t, testHandler())
	long := strings.Repeat("x", 5000)
	cases := []struct {
		name  string
		raw   string
		n     int
		path  string // which path of the httpfast server serves the first request
		wantN int    // status of the first answer, when not 200
	}{
		{"unary", post("/echo", `{"name":"Ada"}`, "Content-Type: application/json"), 1, "fast", 0},
		{"query and escapes", post("/echo?a=1&b=%20", "x", "X-Multi: one", "x-multi: two"), 1, "fast", 0},
		{"escaped path", post("/echo%2Fslash", "x"), 1, "fast", 404},
		{"a body larger than the buffer", post("/echo", strings.Repeat("b", 100<<10)), 1, "fast", 0},
		{"empty body", post("/echo", ""), 1, "fast", 0},
		{"sniffed Content-Type", post("/sniff", ""), 1, "fast", 0},
		{"sniffed from a first write over 2 KB", post("/sniff-large", ""), 1, "fast", 0},
		{"nothing written", post("/empty", ""), 1, "fast", 0},
		{"204 drops the body", post("/nocontent", ""), 1, "fast", 204},
		{"the first status counts", post("/status", ""), 1, "fast", 418},
		{"a stream with trailers", post("/stream", ""), 1, "fast", 0},
		{"trailers without a flush", post("/trailers", ""), 1, "fast", 0},
		{"no response splitting", post("/inject", ""), 1, "fast", 0},
		{"a handler's own Content-Length", post("/length", ""), 1, "fast", 0},
		{"a body left unread", post("/unread", "abcdefgh") + post("/echo", "next"), 2, "fast", 0},
		{"pipelined", post("/echo", "one") + post("/stream", "") + post("/echo", "three"), 3, "fast", 0},
		{"Connection: close", post("/echo", "bye", "Connection: close") + post("/echo", "never"), 1, "fast", 0},
		{"pipelined, then a GET for net/http", post("/echo", "one") + "GET /echo HTTP/1.1\r\nHost: api.test\r\n\r\n", 2, "fast", 0},
		{"Connection: keep-alive", post("/echo", "hi", "Connection: Keep-Alive"), 1, "fast", 0},
		{"unknown path", post("/nowhere", ""), 1, "fast", 404},
		{"GET", "GET /echo HTTP/1.1\r\nHost: api.test\r\n\r\n", 1, "fallback", 0},
		{"a chunked body", "POST /echo HTTP/1.1\r\nHost: api.test\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 1, "fallback", 0},
		{"Expect: 100-continue", post("/echo", "abc", "Expect: 100-continue"), 1, "fallback", 0},
		{"HTTP/1.0", "POST /echo HTTP/1.0\r\nHost: api.test\r\nContent-Length: 2\r\n\r\nhi", 1, "fallback", 0},
		{"an upgrade", post("/upgrade", "", "Connection: Upgrade", "Upgrade: websocket"), 1, "fallback", 0},
		{"a head over 4 KB", post("/echo", "x", "X-Long: "+long), 1, "fallback", 0},
		{"no Host", "POST /echo HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 1, "fallback", 400},
		{"no Content-Length", "POST /echo HTTP/1.1\r\nHost: api.test\r\n\r\n", 1, "fallback", 0},
		{"two Content-Lengths", post("/echo", "ab", "Content-Length: 3"), 1, "fallback", 400},
		{"a bad Content-Length", "POST /echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: +2\r\n\r\nhi", 1, "fallback", 400},
		{"a folded header", post("/echo", "x", "X-Fold: a", " b"), 1, "fallback", 0},
		{"a bare LF", "POST /echo HTTP/1.1\nHost: api.test\nContent-Length: 2\n\nhi", 1, "fallback", 0},
		{"a space before the colon", post("/echo", "x", "X-Bad : v"), 1, "fallback", 400},
		{"an absolute target", "POST http://api.test/echo HTTP/1.1\r\nHost: api.test\r\nContent-Length: 1\r\n\r\nx", 1, "fallback", 0},
		{"a control character", post("/echo", "x", "X-Ctl: a\x01b"), 1, "fallback", 400},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want := exchange(t, plain, tc.raw, tc.n)
			have := exchange(t, fast, tc.raw, tc.n)
			for i := range want {
				if w, h := want[i].comparable(), have[i].comparable(); w != h {
					t.Errorf("answer %d differs\nnet/http:\n%s\nhttpfast:\n%s", i, w, h)
				}
			}
			wantStatus := tc.wantN
			if wantStatus == 0 {
				wantStatus = http.StatusOK
			}
			if have[0].resp.StatusCode != wantStatus {
				t.Errorf("status %d, want %d (%s)", have[0].resp.StatusCode, wantStatus, have[0].body)
			}
			if got := have[0].resp.Header.Get(pathHeader); got != tc.path && have[0].resp.StatusCode != http.StatusBadRequest {
				t.Errorf("served by %q, want %q", got, tc.path)
			}
		})
	}
}

// TestPipelinedHalfRequest: a request whose answer waits behind a second
// request that has not fully arrived is answered without waiting for it.
func TestPipelinedHalfRequest(t *testing.T) {
	fast, _, _ := servers(t, testHandler())
	c, err := net.Dial("tcp", fast)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(3 * time.Second))
	second := post("/echo", "two")
	if _, err := io.WriteString(c, post("/echo", "one")+second[:20]); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("the first answer did not come while the second request was half sent: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `"body":"one"`) {
		t.Errorf("first answer: %s", body)
	}
	if _, err := io.WriteString(c, second[20:]); err != nil {
		t.Fatal(err)
	}
	resp, err = http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("second answer: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); !strings.Contains(string(body), `"body":"two"`) {
		t.Errorf("second answer: %s", body)
	}
}

// TestHandlerPanic: a panic closes the connection, is logged, and the
// server goes on serving.
func TestHandlerPanic(t *testing.T) {
	var logs testutil.SyncBuffer
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		_, _ = io.WriteString(w, "fine")
	})
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h, ErrorLog: log.New(&logs, "", 0)}}
	c := serveAndDial(t, s)
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	_, _ = io.WriteString(c, post("/panic", ""))
	if data, err := io.ReadAll(c); err != nil || len(data) != 0 {
		t.Errorf("after a panic: want the connection closed with nothing sent, have %q, %v", data, err)
	}
	if !strings.Contains(logs.String(), "http: panic serving") || !strings.Contains(logs.String(), "boom") {
		t.Errorf("the panic is not logged: %q", logs.String())
	}
	if a := exchange(t, c.RemoteAddr().String(), post("/ok", ""), 1); a[0].body != "fine" {
		t.Errorf("after a panic: %q", a[0].body)
	}
}

// TestShutdown: Shutdown closes idle connections, waits for a request
// being served, and Serve returns ErrServerClosed.
func TestShutdown(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		_, _ = io.WriteString(w, "done")
	})
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}}
	ln := testutil.Listen(t)
	served := make(chan error, 1)
	go func() { served <- s.Serve(ln) }()
	addr := ln.Addr().String()

	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	_, _ = io.WriteString(idle, post("/quick", ""))
	br := bufio.NewReader(idle)
	if resp, err := http.ReadResponse(br, nil); err != nil || resp.StatusCode != 200 {
		t.Fatalf("quick: %v", err)
	} else {
		_, _ = io.ReadAll(resp.Body)
	}
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, _ = io.WriteString(busy, post("/slow", ""))
	<-started

	shutdown := make(chan error, 1)
	go func() { shutdown <- s.Shutdown(context.Background()) }()
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Errorf("the idle connection: want it closed, have %v", err)
	}
	select {
	case err := <-shutdown:
		t.Fatalf("Shutdown returned while a request was served: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	_ = busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatalf("the request served during Shutdown: %v", err)
	}
	if body, _ := io.ReadAll(resp.Body); string(body) != "done" {
		t.Errorf("the request served during Shutdown: %q", body)
	}
	if err := <-shutdown; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := <-served; !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Shutdown: %v, want ErrServerClosed", err)
	}
}

// TestIdleTimeout: a kept-alive connection that sends nothing more is
// closed after IdleTimeout.
func TestIdleTimeout(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "ok") })
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h}, IdleTimeout: 100 * time.Millisecond}
	c := serveAndDial(t, s)
	_, _ = io.WriteString(c, post("/", ""))
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.ReadAll(resp.Body)
	start := time.Now()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
		t.Fatalf("want the idle connection closed, have %v", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("closed after %v, want about 100ms", took)
	}
}

// TestHTTP2PriorKnowledge: an h2c connection goes to the Fallback, which
// serves it when its Protocols allow unencrypted HTTP/2.
func TestHTTP2PriorKnowledge(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, r.Proto) })
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	protocols.SetUnencryptedHTTP2(true)
	s := &Server{Handler: h, Fallback: &http.Server{Handler: h, Protocols: &protocols}}
	ln := testutil.Listen(t)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	var clientProtocols http.Protocols
	clientProtocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &clientProtocols}, Timeout: 5 * time.Second}
	resp, err := client.Post("http://"+ln.Addr().String()+"/", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if body, _ := io.ReadAll(resp.Body); string(body) != "HTTP/2.0" {
		t.Errorf("over h2c: %q, want HTTP/2.0", body)
	}
}

// TestRequestContext: the request's context carries the server and local
// address, as net/http's does, and ends when the handler returns.
func TestRequestContext(t *testing.T) {
	var ctx context.Context
	var mu sync.Mutex
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ctx = r.Context()
		mu.Unlock()
		_, _ = fmt.Fprint(w, r.Context().Value(http.LocalAddrContextKey), " ", r.Context().Value(http.ServerContextKey) != nil, " ", r.RemoteAddr != "")
	})
	fast, _, _ := servers(t, h)
	a := exchange(t, fast, post("/", ""), 1)
	if a[0].body != fast+" true true" {
		t.Errorf("context values: %q, want %q", a[0].body, fast+" true true")
	}
	mu.Lock()
	defer mu.Unlock()
	if ctx.Err() == nil {
		t.Error("the request's context did not end with the handler")
	}
}
