// Command apiload is the HTTP load generator of bench/api.sh: it POSTs one
// body to one URL from -c workers over kept-alive HTTP/1.1 connections until
// -n requests are done, and prints {"rps": ..., "requests": ..., "errors":
// ...} as JSON. Any answer but 200 counts as an error, and the exit status
// is 1 when there was one.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
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
	var headers headerFlags
	fs.Var(&headers, "H", "header Key: value (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || *concurrency < 1 || *total < 1 {
		return fmt.Errorf("want -url, -c >= 1 and -n >= 1")
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *concurrency, MaxConnsPerHost: *concurrency}, Timeout: 30 * time.Second}
	var next, failed atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range *concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(*total) {
				if err := post(client, *url, *contentType, []byte(*body), headers); err != nil {
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
