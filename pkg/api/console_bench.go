package api

import (
	"context"
	"encoding/json"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
)

// benchBounds are the upper bounds of the latency histogram's buckets, in
// milliseconds; the last bucket has no bound.
var benchBounds = []float64{0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 25, 50, 100, 250, 500, 1000, 2500}

// benchTick is how often a load run reports.
const benchTick = 250 * time.Millisecond

// benchRequest is the body of POST /ui/api/bench.
type benchRequest struct {
	consoleCall
	Concurrency int   `json:"concurrency"`
	DurationMs  int64 `json:"durationMs"`
}

// BenchReport is one line of POST /ui/api/bench: a "tick" every 250 ms
// and an "end" with the totals.
type BenchReport struct {
	Event string `json:"event"`
	// Millis is the time since the run started.
	Millis float64 `json:"ms"`
	// Count and Errors are the calls so far; RPS is the rate over the last
	// tick (the whole run for "end").
	Count  int64   `json:"count"`
	Errors int64   `json:"errors"`
	RPS    float64 `json:"rps"`
	// Bounds are the histogram buckets' upper bounds (ms; the last bucket
	// is unbounded) and Counts the calls in each, so far.
	Bounds []float64 `json:"bounds"`
	Counts []int64   `json:"counts"`
	P50    float64   `json:"p50"`
	P90    float64   `json:"p90"`
	P99    float64   `json:"p99"`
	// LastError is the latest error, if any.
	LastError   string `json:"lastError,omitempty"`
	Concurrency int    `json:"concurrency"`
	DurationMs  int64  `json:"durationMs"`
	Capped      bool   `json:"capped,omitempty"`
}

// benchStats are the figures a run collects.
type benchStats struct {
	mu        sync.Mutex
	count     int64
	errors    int64
	counts    []int64
	latencies []float64
	lastError string
}

func (s *benchStats) add(ms float64, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.count++
	if err != nil {
		s.errors++
		s.lastError = err.Error()
	}
	i, _ := slices.BinarySearch(benchBounds, ms)
	s.counts[i]++
	if len(s.latencies) < 1_000_000 {
		s.latencies = append(s.latencies, ms)
	}
}

func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func (s *benchStats) report(event string, elapsed time.Duration) BenchReport {
	s.mu.Lock()
	defer s.mu.Unlock()
	sorted := slices.Clone(s.latencies)
	slices.Sort(sorted)
	return BenchReport{
		Event: event, Millis: float64(elapsed.Microseconds()) / 1000,
		Count: s.count, Errors: s.errors, Bounds: benchBounds, Counts: slices.Clone(s.counts),
		P50: percentile(sorted, 0.5), P90: percentile(sorted, 0.9), P99: percentile(sorted, 0.99),
		LastError: s.lastError,
	}
}

// serveBench runs a bounded load of a unary endpoint: concurrency callers
// for durationMs, both capped by the console's options, one run at a time
// per gateway. It streams BenchReports as NDJSON.
func (c *console) serveBench(w http.ResponseWriter, r *http.Request) {
	body, err := c.g.readBody(w, r, "")
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	var in benchRequest
	if err := json.Unmarshal(body, &in); err != nil {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "bench: want {\"service\", \"endpoint\", \"request\", \"concurrency\", \"durationMs\"}: %v", err))
		return
	}
	t, err := c.g.resolvePlain(r.Context(), in.Service, in.Endpoint)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	if t.method == nil || t.method.IsStreamingClient() || t.method.IsStreamingServer() {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "bench: %s/%s is not a unary gRPC method; the load page runs unary methods", in.Service, in.Endpoint))
		return
	}
	req, err := c.g.parseJSONRequest(t, in.Request)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	capped := false
	concurrency := in.Concurrency
	if concurrency <= 0 {
		concurrency = 1
	}
	if concurrency > c.opts.MaxBenchConcurrency {
		concurrency, capped = c.opts.MaxBenchConcurrency, true
	}
	duration := time.Duration(in.DurationMs) * time.Millisecond
	if duration <= 0 {
		duration = 5 * time.Second
	}
	if duration > c.opts.MaxBenchDuration {
		duration, capped = c.opts.MaxBenchDuration, true
	}
	select {
	case c.bench <- struct{}{}:
		defer func() { <-c.bench }()
	default:
		c.g.writeError(w, r, errorf(codes.ResourceExhausted, "a load run is going on already: this gateway runs one at a time"))
		return
	}
	info := infoOf(r.Context())
	info.service, info.endpoint = in.Service, in.Endpoint
	md := c.metadataOf(in.Metadata)
	// The run ends by cancellation, not by a deadline: a call cut short
	// then is seen as such (gRPC may report a deadline before the
	// context does) and not counted.
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	runEnd := time.NewTimer(duration)
	defer runEnd.Stop()
	stats := &benchStats{counts: make([]int64, len(benchBounds)+1)}
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				began := time.Now()
				callCtx, callCancel := context.WithTimeout(ctx, c.g.opts.Timeout)
				err := c.g.invoke(callCtx, t, req, md, ResponseHandler{Message: func(proto.Message) error { return nil }})
				callCancel()
				if ctx.Err() != nil {
					return // cut short by the end of the run: not counted
				}
				stats.add(float64(time.Since(began).Microseconds())/1000, err)
			}
		}()
	}
	stream := newNDJSON(w)
	ticker := time.NewTicker(benchTick)
	defer ticker.Stop()
	var lastCount int64
	lastAt := start
	tick := func(event string) {
		now := time.Now()
		rep := stats.report(event, now.Sub(start))
		rep.Concurrency, rep.DurationMs, rep.Capped = concurrency, duration.Milliseconds(), capped
		if event == "end" {
			rep.RPS = float64(rep.Count) / now.Sub(start).Seconds()
		} else {
			rep.RPS = float64(rep.Count-lastCount) / now.Sub(lastAt).Seconds()
		}
		lastCount, lastAt = rep.Count, now
		stream.write(rep)
	}
	tick("start")
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case <-runEnd.C:
			cancel()
			break loop
		case <-ticker.C:
			tick("tick")
		}
	}
	wg.Wait()
	code := codes.OK
	if r.Context().Err() != nil {
		code = codes.Canceled
	}
	info.setCode(code, "")
	tick("end")
}
