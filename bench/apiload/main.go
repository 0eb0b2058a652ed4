// Command apiload is the HTTP load generator of bench/api.sh: it POSTs one
// body to one URL from -c workers over kept-alive HTTP/1.1 connections until
// -n requests are done, and prints {"rps": ..., "requests": ..., "errors":
// ...} as JSON. Any answer but 200 counts as an error, and the exit status
// is 1 when there was one.
//
// By default (-client raw) each worker writes the request as bytes made
// once and reads the answer's status line, headers and body (by
// Content-Length, or chunked) off its own connection, as wrk does: on a
// machine of two cores the load generator's own CPU is taken from the
// gateway it measures, and net/http's client costs as much CPU per request
// as the gateway's HTTP server. -client net/http uses net/http's client
// instead.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "apiload:", err)
		os.Exit(1)
	}
}

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("apiload", flag.ContinueOnError)
	url := fs.String("url", "", "URL to POST to")
	body := fs.String("d", "{}", "request body")
	contentType := fs.String("content-type", "application/json", "Content-Type of the body")
	concurrency := fs.Int("c", 16, "concurrent workers")
	total := fs.Int("n", 5000, "requests in all")
	clientKind := fs.String("client", "raw", "HTTP client: raw (requests made once, answers read by hand) or net/http")
	var headers headerFlags
	fs.Var(&headers, "H", "header Key: value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *concurrency < 1 || *total < 1 {
		return fmt.Errorf("want -url, -c >= 1 and -n >= 1")
	}
	var newWorker func() func() error
	switch *clientKind {
	case "raw":
		target, request, err := rawRequest(*url, *contentType, []byte(*body), headers)
		if err != nil {
			return err
		}
		newWorker = func() func() error {
			c := &rawConn{address: target, request: request}
			return c.post
		}
	case "net/http":
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}, Timeout: 30 * time.Second}
		newWorker = func() func() error {
			return func() error { return post(client, *url, *contentType, []byte(*body), headers) }
		}
	default:
		return fmt.Errorf("-client %q: want raw or net/http", *clientKind)
	}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		post := newWorker()
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*total) {
				if err := post(); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				}
			}
		}()
	}
	wg.Wait()
	took := time.Since(start)
	out := map[string]any{
		"rps":      float64(*total) / took.Seconds(),
		"requests": *total,
		"errors":   failed.Load(),
		"seconds":  took.Seconds(),
	}
	if e := firstErr.Load(); e != nil {
		out["first_error"] = e
	}
	if err := json.NewEncoder(stdout).Encode(out); err != nil {
		return err
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d of %d requests failed; first: %v", failed.Load(), *total, firstErr.Load())
	}
	return nil
}

func post(client *http.Client, url, contentType string, body []byte, headers []string) error {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", contentType)
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(strings.TrimSpace(k), strings.TrimSpace(v))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(data))
	}
	return nil
}

// rawRequest returns the address to dial and the bytes of the request.
func rawRequest(rawURL, contentType string, body []byte, headers []string) (string, []byte, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", nil, err
	}
	if u.Scheme != "http" || u.Host == "" {
		return "", nil, fmt.Errorf("-url %q: -client raw takes http://host:port/path", rawURL)
	}
	address := u.Host
	if u.Port() == "" {
		address = net.JoinHostPort(u.Hostname(), "80")
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: apiload\r\nContent-Type: %s\r\nContent-Length: %d\r\n", u.RequestURI(), u.Host, contentType, len(body))
	for _, h := range headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok {
			return "", nil, fmt.Errorf("-H %q: want Key: value", h)
		}
		fmt.Fprintf(&req, "%s: %s\r\n", strings.TrimSpace(k), strings.TrimSpace(v))
	}
	req.WriteString("\r\n")
	req.Write(body)
	return address, req.Bytes(), nil
}

// rawConn is one worker's kept-alive connection.
type rawConn struct {
	address string
	request []byte
	conn    net.Conn
	r       *bufio.Reader
}

// post sends the request and reads the answer; any failure closes the
// connection, and the next post dials again.
func (c *rawConn) post() error {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.address, 10*time.Second)
		if err != nil {
			return err
		}
		c.conn, c.r = conn, bufio.NewReaderSize(conn, 16<<10)
	}
	status, keep, err := c.exchange()
	if err != nil || !keep {
		c.conn.Close()
		c.conn = nil
	}
	if err != nil {
		return err
	}
	if status != http.StatusOK {
		return fmt.Errorf("HTTP %d", status)
	}
	return nil
}

func (c *rawConn) exchange() (status int, keep bool, err error) {
	if err := c.conn.SetDeadline(time.Now().Add(30 * time.Second)); err != nil {
		return 0, false, err
	}
	if _, err := c.conn.Write(c.request); err != nil {
		return 0, false, err
	}
	line, err := c.r.ReadSlice('\n')
	if err != nil {
		return 0, false, err
	}
	// HTTP/1.1 200 OK
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) {
		return 0, false, fmt.Errorf("not an HTTP answer: %q", line)
	}
	status, err = strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, false, fmt.Errorf("status line %q: %w", line, err)
	}
	length, chunked, keep := int64(-1), false, true
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return 0, false, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		k, v, _ := bytes.Cut(line, []byte(":"))
		v = bytes.TrimSpace(v)
		switch {
		case bytes.EqualFold(k, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(v), 10, 64); err != nil {
				return 0, false, fmt.Errorf("Content-Length %q: %w", v, err)
			}
		case bytes.EqualFold(k, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(v, []byte("chunked"))
		case bytes.EqualFold(k, []byte("Connection")):
			keep = !bytes.EqualFold(v, []byte("close"))
		}
	}
	switch {
	case chunked:
		_, err = io.Copy(io.Discard, httputil.NewChunkedReader(c.r))
		if err == nil {
			err = c.skipTrailers()
		}
	case length >= 0:
		_, err = c.r.Discard(int(length))
	default:
		return status, false, fmt.Errorf("an answer with neither Content-Length nor chunked")
	}
	return status, keep, err
}

// skipTrailers reads the trailers after a chunked body, up to the blank
// line.
func (c *rawConn) skipTrailers() error {
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(bytes.TrimRight(line, "\r\n")) == 0 {
			return nil
		}
	}
}
