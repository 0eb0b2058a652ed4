package api

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"google.golang.org/grpc/codes"
)

// scrape serves GET /metrics from m and parses the page with the
// Prometheus text parser, which fails on anything that is not valid text
// exposition (a family split in two, a type line after its samples, a
// histogram bucket without le, a bad escape).
func scrape(t *testing.T, m *metrics) (map[string]*dto.MetricFamily, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	m.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics: status %d: %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	body := rec.Body.String()
	parser := expfmt.NewTextParser(model.LegacyValidation)
	families, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("not valid Prometheus text: %v\n%s", err, body)
	}
	return families, body
}

// labelsOf is a series' labels as name=value, le and quantile left out.
func labelsOf(m *dto.Metric) string {
	var parts []string
	for _, l := range m.GetLabel() {
		parts = append(parts, l.GetName()+"="+l.GetValue())
	}
	return strings.Join(parts, ",")
}

func TestMetricsPage(t *testing.T) {
	m := newMetrics(nil)
	greeter := &requestInfo{service: "greeter", endpoint: "Greeter.Hello", protocol: "json"}
	odd := &requestInfo{service: `we"ird\svc`, endpoint: "A.B\nC", protocol: "connect"}
	m.observe(greeter, codes.OK, 300*time.Microsecond) // first bucket
	m.observe(greeter, codes.OK, time.Millisecond)     // le is inclusive: the 0.001 bucket
	m.observe(greeter, codes.OK, time.Minute)          // past the last bound: +Inf only
	m.observe(greeter, codes.InvalidArgument, 2*time.Millisecond)
	m.observe(odd, codes.Unavailable, 40*time.Millisecond)

	families, body := scrape(t, m)
	const greeterOK = "code=OK,endpoint=Greeter.Hello,protocol=json,service=greeter"
	const greeterBad = "code=InvalidArgument,endpoint=Greeter.Hello,protocol=json,service=greeter"
	const oddBad = "code=Unavailable,endpoint=A.B\nC,protocol=connect,service=we\"ird\\svc"

	counts := func(name string, typ dto.MetricType) map[string]float64 {
		t.Helper()
		f := families[name]
		if f == nil || f.GetType() != typ {
			t.Fatalf("%s: want a %v family, have %v\n%s", name, typ, f, body)
		}
		out := map[string]float64{}
		for _, s := range f.GetMetric() {
			out[labelsOf(s)] = s.GetCounter().GetValue()
		}
		return out
	}
	requests := counts("micro_api_requests_total", dto.MetricType_COUNTER)
	if len(requests) != 3 || requests[greeterOK] != 3 || requests[greeterBad] != 1 || requests[oddBad] != 1 {
		t.Errorf("requests_total: %v", requests)
	}
	errs := counts("micro_api_errors_total", dto.MetricType_COUNTER)
	if len(errs) != 2 || errs[greeterBad] != 1 || errs[oddBad] != 1 {
		t.Errorf("errors_total: want the two calls that did not end OK, have %v", errs)
	}

	latency := families["micro_api_request_duration_seconds"]
	if latency.GetType() != dto.MetricType_HISTOGRAM || len(latency.GetMetric()) != 3 {
		t.Fatalf("request_duration_seconds: %v", latency)
	}
	for _, s := range latency.GetMetric() {
		if labelsOf(s) != greeterOK {
			continue
		}
		h := s.GetHistogram()
		if h.GetSampleCount() != 3 {
			t.Errorf("count %d, want 3", h.GetSampleCount())
		}
		if sum := h.GetSampleSum(); sum < 60.0013-1e-9 || sum > 60.0013+1e-9 {
			t.Errorf("sum %v, want 60.0013", sum)
		}
		want := map[float64]uint64{0.0005: 1, 0.001: 2, 30: 2, math.Inf(1): 3}
		if len(h.GetBucket()) != len(latencyBounds)+1 {
			t.Errorf("%d buckets, want %d and +Inf", len(h.GetBucket()), len(latencyBounds))
		}
		for _, b := range h.GetBucket() {
			if n, ok := want[b.GetUpperBound()]; ok && b.GetCumulativeCount() != n {
				t.Errorf("bucket le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), n)
			}
		}
	}
	// The lines existing tests and dashboards match, byte for byte.
	for _, want := range []string{
		`micro_api_requests_total{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter"} 3`,
		`micro_api_request_duration_seconds_bucket{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter",le="0.0025"} 2`,
		`micro_api_request_duration_seconds_bucket{code="OK",endpoint="Greeter.Hello",protocol="json",service="greeter",le="+Inf"} 3`,
		`micro_api_errors_total{code="Unavailable",endpoint="A.B\nC",protocol="connect",service="we\"ird\\svc"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("want the line %s\n%s", want, body)
		}
	}

	// The Go and process metrics, under the Prometheus client's names.
	for _, name := range []string{"go_goroutines", "go_threads", "go_info", "go_gc_duration_seconds", "go_memstats_alloc_bytes", "go_memstats_heap_inuse_bytes"} {
		if families[name] == nil {
			t.Errorf("no %s", name)
		}
	}
	if runtime.GOOS == "linux" {
		for _, name := range []string{"process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds", "process_start_time_seconds"} {
			f := families[name]
			if f == nil {
				t.Errorf("no %s", name)
				continue
			}
			if v := f.GetMetric()[0].GetGauge().GetValue() + f.GetMetric()[0].GetCounter().GetValue(); v <= 0 && name != "process_cpu_seconds_total" {
				t.Errorf("%s = %v", name, v)
			}
		}
		start := families["process_start_time_seconds"].GetMetric()[0].GetGauge().GetValue()
		if since := time.Since(time.Unix(int64(start), 0)); since < -2*time.Second || since > 24*time.Hour {
			t.Errorf("process_start_time_seconds %v: %v ago", start, since)
		}
	}
}

func TestMetricsEmpty(t *testing.T) {
	families, body := scrape(t, newMetrics(nil))
	if families["micro_api_requests_total"] != nil || strings.Contains(body, "micro_api_") {
		t.Errorf("no call yet, yet micro_api_ metrics:\n%s", body)
	}
	if families["go_goroutines"] == nil {
		t.Errorf("no go_goroutines:\n%s", body)
	}
}

type appMetrics string

func (a appMetrics) WriteMetrics(w io.Writer) error {
	_, err := io.WriteString(w, string(a))
	return err
}

func TestMetricsOfTheApplication(t *testing.T) {
	m := newMetrics(appMetrics("# HELP app_jobs_total Jobs done.\n# TYPE app_jobs_total counter\napp_jobs_total 7\n"))
	m.observe(&requestInfo{service: "greeter", endpoint: "Greeter.Hello", protocol: "json"}, codes.OK, time.Millisecond)
	families, body := scrape(t, m)
	if families["app_jobs_total"].GetMetric()[0].GetCounter().GetValue() != 7 {
		t.Errorf("want the application's app_jobs_total 7:\n%s", body)
	}
	if families["micro_api_requests_total"] == nil {
		t.Errorf("want the gateway's metrics too:\n%s", body)
	}
	if families["go_goroutines"] != nil {
		t.Errorf("the application writes its own Go metrics; want none of the gateway's:\n%s", body)
	}
}

func TestMetricsConcurrent(t *testing.T) {
	m := newMetrics(nil)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			info := &requestInfo{service: "svc", endpoint: "S.M", protocol: []string{"json", "connect"}[g%2]}
			for i := range 500 {
				m.observe(info, codes.Code(i%3), time.Duration(i)*time.Microsecond)
			}
		})
	}
	wg.Go(func() { // t.Fatal is for the test's goroutine only: errors here
		for range 20 {
			rec := httptest.NewRecorder()
			m.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
			parser := expfmt.NewTextParser(model.LegacyValidation)
			if _, err := parser.TextToMetricFamilies(rec.Body); err != nil {
				t.Errorf("a page written during calls is not valid Prometheus text: %v", err)
				return
			}
		}
	})
	wg.Wait()
	families, _ := scrape(t, m)
	var total float64
	for _, s := range families["micro_api_requests_total"].GetMetric() {
		total += s.GetCounter().GetValue()
	}
	if total != 8*500 {
		t.Errorf("counted %v calls, want %d", total, 8*500)
	}
}
