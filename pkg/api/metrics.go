package api

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
)

// MetricsWriter writes an application's own metrics in the Prometheus text
// exposition format (version 0.0.4), for an embedder whose program has
// metrics of its own to serve on the gateway's GET /metrics.
type MetricsWriter interface {
	WriteMetrics(w io.Writer) error
}

// latencyBounds are the upper bounds, in seconds, of the buckets of
// micro_api_request_duration_seconds.
var latencyBounds = [...]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

// metrics are the gateway's metrics, written in the Prometheus text format
// by a writer of its own: the Prometheus client's package initialisation
// alone cost every micro command over a million instructions at start-up.
// Labels come from the registry, never from the raw request: a call to an
// unknown service is not counted by name.
type metrics struct {
	mu     sync.RWMutex
	series map[seriesKey]*series
	// app, when set, is written after the gateway's metrics, in place of
	// the Go and process metrics.
	app     MetricsWriter
	handler http.Handler
}

// seriesKey is one label set: service, endpoint, protocol and gRPC code.
type seriesKey struct {
	service, endpoint, protocol string
	code                        codes.Code
}

// series counts the calls of one label set. requests_total, errors_total
// (for a code other than OK) and the histogram's count are all the sum of
// the buckets, so one page never contradicts itself.
type series struct {
	buckets [len(latencyBounds) + 1]atomic.Uint64 // the last one is +Inf; not cumulative
	nanos   atomic.Uint64                         // the sum of the times taken
}

func newMetrics(app MetricsWriter) *metrics {
	m := &metrics{series: make(map[seriesKey]*series), app: app}
	m.handler = http.HandlerFunc(m.serveHTTP)
	return m
}

func (m *metrics) observe(info *requestInfo, code codes.Code, took time.Duration) {
	key := seriesKey{service: info.service, endpoint: info.endpoint, protocol: info.protocol, code: code}
	m.mu.RLock()
	s := m.series[key]
	m.mu.RUnlock()
	if s == nil {
		m.mu.Lock()
		if s = m.series[key]; s == nil {
			s = new(series)
			m.series[key] = s
		}
		m.mu.Unlock()
	}
	s.buckets[sort.SearchFloat64s(latencyBounds[:], took.Seconds())].Add(1)
	if took > 0 {
		s.nanos.Add(uint64(took))
	}
}

func (m *metrics) serveHTTP(w http.ResponseWriter, r *http.Request) {
	var buf bytes.Buffer
	m.write(&buf)
	if m.app != nil {
		if err := m.app.WriteMetrics(&buf); err != nil {
			http.Error(w, fmt.Sprintf("api: metrics: %v", err), http.StatusInternalServerError)
			return
		}
	} else {
		writeRuntimeMetrics(&buf)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(buf.Bytes())
}

// snapshot is one label set's counts as written on one page.
type snapshot struct {
	key     seriesKey
	labels  string // {code="...",endpoint="...",protocol="...",service="..."} without the braces
	buckets [len(latencyBounds) + 1]uint64
	count   uint64
	seconds float64
}

// write writes the gateway's three metric families, their series sorted by
// label values as the Prometheus client sorts them (code, endpoint,
// protocol, service).
func (m *metrics) write(w *bytes.Buffer) {
	m.mu.RLock()
	snaps := make([]snapshot, 0, len(m.series))
	for key, s := range m.series {
		snap := snapshot{key: key}
		for i := range s.buckets {
			snap.buckets[i] = s.buckets[i].Load()
			snap.count += snap.buckets[i]
		}
		snap.seconds = float64(s.nanos.Load()) / float64(time.Second)
		snaps = append(snaps, snap)
	}
	m.mu.RUnlock()
	if len(snaps) == 0 {
		return
	}
	slices.SortFunc(snaps, func(a, b snapshot) int {
		if c := strings.Compare(a.key.code.String(), b.key.code.String()); c != 0 {
			return c
		}
		if c := strings.Compare(a.key.endpoint, b.key.endpoint); c != 0 {
			return c
		}
		if c := strings.Compare(a.key.protocol, b.key.protocol); c != 0 {
			return c
		}
		return strings.Compare(a.key.service, b.key.service)
	})
	for i := range snaps {
		k := snaps[i].key
		snaps[i].labels = `code="` + escapeLabel(k.code.String()) + `",endpoint="` + escapeLabel(k.endpoint) +
			`",protocol="` + escapeLabel(k.protocol) + `",service="` + escapeLabel(k.service) + `"`
	}

	family(w, "micro_api_requests_total", "counter", "Calls through the gateway, by service, endpoint, protocol and gRPC code.")
	for _, s := range snaps {
		sample(w, "micro_api_requests_total", s.labels, float64(s.count))
	}
	headed := false
	for _, s := range snaps {
		if s.key.code == codes.OK {
			continue
		}
		if !headed {
			family(w, "micro_api_errors_total", "counter", "Calls through the gateway that ended with a code other than OK.")
			headed = true
		}
		sample(w, "micro_api_errors_total", s.labels, float64(s.count))
	}
	const latency = "micro_api_request_duration_seconds"
	family(w, latency, "histogram", "Time from a call's request to the end of its response, by service, endpoint, protocol and gRPC code.")
	for _, s := range snaps {
		var cumulative uint64
		for i, bound := range latencyBounds {
			cumulative += s.buckets[i]
			sample(w, latency+"_bucket", s.labels+`,le="`+formatFloat(bound)+`"`, float64(cumulative))
		}
		sample(w, latency+"_bucket", s.labels+`,le="+Inf"`, float64(s.count))
		sample(w, latency+"_sum", s.labels, s.seconds)
		sample(w, latency+"_count", s.labels, float64(s.count))
	}
}

// family writes the HELP and TYPE lines of a metric family.
func family(w *bytes.Buffer, name, typ, help string) {
	help = strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(help)
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// sample writes one sample line; labels are already escaped, without braces.
func sample(w *bytes.Buffer, name, labels string, value float64) {
	w.WriteString(name)
	if labels != "" {
		w.WriteByte('{')
		w.WriteString(labels)
		w.WriteByte('}')
	}
	w.WriteByte(' ')
	w.WriteString(formatFloat(value))
	w.WriteByte('\n')
}

func escapeLabel(v string) string {
	if !strings.ContainsAny(v, "\\\"\n") {
		return v
	}
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(v)
}

// formatFloat formats a sample value as the Prometheus client does.
func formatFloat(f float64) string {
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// writeRuntimeMetrics writes the Go runtime's and the process's metrics
// under the names the Prometheus client's Go and process collectors give
// them (go_*, process_*). The process metrics come from /proc and are left
// out where there is none.
func writeRuntimeMetrics(w *bytes.Buffer) {
	gauge := func(name, help string, v float64) {
		family(w, name, "gauge", help)
		sample(w, name, "", v)
	}
	counter := func(name, help string, v float64) {
		family(w, name, "counter", help)
		sample(w, name, "", v)
	}

	var gc debug.GCStats
	gc.PauseQuantiles = make([]time.Duration, 5)
	debug.ReadGCStats(&gc)
	family(w, "go_gc_duration_seconds", "summary", "A summary of the wall-time pause (stop-the-world) duration in garbage collection cycles.")
	for i, q := range []string{"0", "0.25", "0.5", "0.75", "1"} {
		sample(w, "go_gc_duration_seconds", `quantile="`+q+`"`, gc.PauseQuantiles[i].Seconds())
	}
	sample(w, "go_gc_duration_seconds_sum", "", gc.PauseTotal.Seconds())
	sample(w, "go_gc_duration_seconds_count", "", float64(gc.NumGC))
	gauge("go_goroutines", "Number of goroutines that currently exist.", float64(runtime.NumGoroutine()))
	family(w, "go_info", "gauge", "Information about the Go environment.")
	sample(w, "go_info", `version="`+escapeLabel(runtime.Version())+`"`, 1)

	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	gauge("go_memstats_alloc_bytes", "Number of bytes allocated in heap and currently in use.", float64(ms.Alloc))
	counter("go_memstats_alloc_bytes_total", "Total number of bytes allocated in heap until now, even if released already.", float64(ms.TotalAlloc))
	counter("go_memstats_frees_total", "Total number of heap objects frees.", float64(ms.Frees))
	gauge("go_memstats_heap_alloc_bytes", "Number of heap bytes allocated and currently in use.", float64(ms.HeapAlloc))
	gauge("go_memstats_heap_idle_bytes", "Number of heap bytes waiting to be used.", float64(ms.HeapIdle))
	gauge("go_memstats_heap_inuse_bytes", "Number of heap bytes that are in use.", float64(ms.HeapInuse))
	gauge("go_memstats_heap_objects", "Number of currently allocated objects.", float64(ms.HeapObjects))
	gauge("go_memstats_heap_released_bytes", "Number of heap bytes released to OS.", float64(ms.HeapReleased))
	gauge("go_memstats_heap_sys_bytes", "Number of heap bytes obtained from system.", float64(ms.HeapSys))
	gauge("go_memstats_last_gc_time_seconds", "Number of seconds since 1970 of last garbage collection.", float64(ms.LastGC)/1e9)
	counter("go_memstats_mallocs_total", "Total number of heap objects allocated.", float64(ms.Mallocs))
	gauge("go_memstats_next_gc_bytes", "Number of heap bytes when next garbage collection will take place.", float64(ms.NextGC))
	gauge("go_memstats_stack_inuse_bytes", "Number of bytes obtained from system for stack allocator in non-CGO environments.", float64(ms.StackInuse))
	gauge("go_memstats_sys_bytes", "Number of bytes obtained from system.", float64(ms.Sys))
	gauge("go_sched_gomaxprocs_threads", "The current runtime.GOMAXPROCS setting, or the number of operating system threads that can execute user-level Go code simultaneously.", float64(runtime.GOMAXPROCS(0)))
	threads, _ := runtime.ThreadCreateProfile(nil)
	gauge("go_threads", "Number of OS threads created.", float64(threads))

	p, ok := readProcStat()
	if !ok {
		return
	}
	counter("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.", p.cpuSeconds)
	if n, ok := maxOpenFiles(); ok {
		gauge("process_max_fds", "Maximum number of open file descriptors.", n)
	}
	if fds, err := os.ReadDir("/proc/self/fd"); err == nil {
		gauge("process_open_fds", "Number of open file descriptors.", float64(len(fds)))
	}
	gauge("process_resident_memory_bytes", "Resident memory size in bytes.", p.rss)
	if p.start > 0 {
		gauge("process_start_time_seconds", "Start time of the process since unix epoch in seconds.", p.start)
	}
	gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.", p.vsize)
}

// procStat is what /proc/self/stat says of this process.
type procStat struct {
	cpuSeconds, rss, vsize, start float64
}

// userHZ is the unit of the times of /proc/self/stat (the Prometheus
// client's process collector assumes the same).
const userHZ = 100

func readProcStat() (procStat, bool) {
	data, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, false
	}
	// The command name, in brackets, may hold spaces: the fields counted
	// here (state is field 3) start after its closing bracket.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 22 {
		return procStat{}, false
	}
	num := func(field int) float64 { // field as numbered in proc(5)
		v, _ := strconv.ParseFloat(f[field-3], 64)
		return v
	}
	p := procStat{
		cpuSeconds: (num(14) + num(15)) / userHZ,
		vsize:      num(23),
		rss:        num(24) * float64(os.Getpagesize()),
	}
	if boot, ok := bootTime(); ok {
		p.start = boot + num(22)/userHZ
	}
	return p, true
}

// bootTime is the btime line of /proc/stat: when the machine booted, in
// seconds since the epoch.
func bootTime() (float64, bool) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "btime "); ok {
			v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return v, err == nil
		}
	}
	return 0, false
}

// maxOpenFiles is the soft limit of open files from /proc/self/limits.
func maxOpenFiles() (float64, bool) {
	data, err := os.ReadFile("/proc/self/limits")
	if err != nil {
		return 0, false
	}
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				return 0, false
			}
			if f[0] == "unlimited" {
				return 0, false
			}
			v, err := strconv.ParseFloat(f[0], 64)
			return v, err == nil
		}
	}
	return 0, false
}
