package bench

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

// histogramBuckets is how many bars the histogram has.
const histogramBuckets = 10

// Summary is the report of a run. -o json writes it with durations in
// milliseconds (see MarshalJSON).
type Summary struct {
	Count   int           `json:"count"`
	OK      int           `json:"ok"`
	Failed  int           `json:"failed"`
	Total   time.Duration `json:"total"`
	RPS     float64       `json:"rps"`
	Latency Latency       `json:"latency"`
	// Histogram buckets the latencies: each counts the calls that took
	// more than the bucket before and at most Le.
	Histogram   []Bucket       `json:"histogram"`
	StatusCodes map[string]int `json:"status_codes"`
	Nodes       []NodeCount    `json:"nodes"`
	Errors      []ErrorCount   `json:"errors"`
}

// Latency sums up how long the calls took, failed ones included.
type Latency struct {
	Min  time.Duration `json:"min"`
	Mean time.Duration `json:"mean"`
	P50  time.Duration `json:"p50"`
	P90  time.Duration `json:"p90"`
	P99  time.Duration `json:"p99"`
	P999 time.Duration `json:"p99_9"`
	Max  time.Duration `json:"max"`
}

// Bucket is one bar of the histogram.
type Bucket struct {
	Le    time.Duration `json:"le"`
	Count int           `json:"count"`
}

// NodeCount is how many calls one node served.
type NodeCount struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Count   int    `json:"count"`
}

// ErrorCount is how often one error was seen.
type ErrorCount struct {
	Error string `json:"error"`
	Count int    `json:"count"`
}

func summarize(res *result) *Summary {
	s := &Summary{
		Count:       res.count,
		Failed:      res.failed,
		OK:          res.count - res.failed,
		Total:       res.elapsed,
		StatusCodes: map[string]int{},
		Nodes:       []NodeCount{},
		Errors:      []ErrorCount{},
		Histogram:   []Bucket{},
	}
	if res.elapsed > 0 {
		s.RPS = float64(res.count) / res.elapsed.Seconds()
	}
	for code, n := range res.codes {
		s.StatusCodes[code.String()] = n
	}
	for node, n := range res.nodes {
		id, address, _ := strings.Cut(node, " ")
		s.Nodes = append(s.Nodes, NodeCount{ID: id, Address: address, Count: n})
	}
	slices.SortFunc(s.Nodes, func(a, b NodeCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Address, b.Address), cmp.Compare(a.ID, b.ID))
	})
	for msg, n := range res.errors {
		s.Errors = append(s.Errors, ErrorCount{Error: msg, Count: n})
	}
	slices.SortFunc(s.Errors, func(a, b ErrorCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Error, b.Error))
	})

	lat := slices.Clone(res.latencies)
	if len(lat) == 0 {
		return s
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, d := range lat {
		sum += d
	}
	s.Latency = Latency{
		Min:  lat[0],
		Mean: sum / time.Duration(len(lat)),
		P50:  percentile(lat, 50),
		P90:  percentile(lat, 90),
		P99:  percentile(lat, 99),
		P999: percentile(lat, 99.9),
		Max:  lat[len(lat)-1],
	}
	s.Histogram = histogram(lat, res.count)
	return s
}

// percentile is the nearest-rank percentile of sorted latencies.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(p/100*float64(len(sorted))+0.999999) - 1
	return sorted[min(max(rank, 0), len(sorted)-1)]
}

// histogram spreads sorted latencies over histogramBuckets equal buckets
// from the fastest to the slowest, scaled to count calls.
func histogram(sorted []time.Duration, count int) []Bucket {
	lo, hi := sorted[0], sorted[len(sorted)-1]
	width := (hi - lo) / histogramBuckets
	if width <= 0 {
		return []Bucket{{Le: hi, Count: count}}
	}
	buckets := make([]Bucket, histogramBuckets)
	for i := range buckets {
		buckets[i].Le = lo + time.Duration(i+1)*width
	}
	buckets[len(buckets)-1].Le = hi
	i := 0
	for _, d := range sorted {
		for d > buckets[i].Le {
			i++
		}
		buckets[i].Count++
	}
	if len(sorted) != count { // sampled: scale back to the calls made
		for i := range buckets {
			buckets[i].Count = int(float64(buckets[i].Count) * float64(count) / float64(len(sorted)))
		}
	}
	return buckets
}

// MarshalJSON writes durations as milliseconds.
func (s *Summary) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	type bucket struct {
		LeMs  float64 `json:"le_ms"`
		Count int     `json:"count"`
	}
	buckets := make([]bucket, len(s.Histogram))
	for i, b := range s.Histogram {
		buckets[i] = bucket{LeMs: ms(b.Le), Count: b.Count}
	}
	return json.Marshal(struct {
		Count       int                `json:"count"`
		OK          int                `json:"ok"`
		Failed      int                `json:"failed"`
		TotalMs     float64            `json:"total_ms"`
		RPS         float64            `json:"rps"`
		LatencyMs   map[string]float64 `json:"latency_ms"`
		Histogram   []bucket           `json:"histogram"`
		StatusCodes map[string]int     `json:"status_codes"`
		Nodes       []NodeCount        `json:"nodes"`
		Errors      []ErrorCount       `json:"errors"`
	}{
		Count: s.Count, OK: s.OK, Failed: s.Failed, TotalMs: ms(s.Total), RPS: s.RPS,
		LatencyMs: map[string]float64{
			"min": ms(s.Latency.Min), "mean": ms(s.Latency.Mean), "p50": ms(s.Latency.P50),
			"p90": ms(s.Latency.P90), "p99": ms(s.Latency.P99), "p99_9": ms(s.Latency.P999), "max": ms(s.Latency.Max),
		},
		Histogram: buckets, StatusCodes: s.StatusCodes, Nodes: s.Nodes, Errors: s.Errors,
	})
}

// writeSummary writes the report for people.
func writeSummary(w io.Writer, s *Summary) error {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "Summary:\n")
	fmt.Fprintf(tw, "  Count:\t%d\n", s.Count)
	fmt.Fprintf(tw, "  Failed:\t%d\n", s.Failed)
	fmt.Fprintf(tw, "  Total:\t%s\n", round(s.Total))
	fmt.Fprintf(tw, "  Requests/sec:\t%.2f\n", s.RPS)
	fmt.Fprintf(tw, "\nLatency:\n")
	for _, row := range []struct {
		name string
		d    time.Duration
	}{
		{"min", s.Latency.Min}, {"mean", s.Latency.Mean}, {"p50", s.Latency.P50}, {"p90", s.Latency.P90},
		{"p99", s.Latency.P99}, {"p99.9", s.Latency.P999}, {"max", s.Latency.Max},
	} {
		fmt.Fprintf(tw, "  %s\t%s\n", row.name, round(row.d))
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(s.Histogram) > 0 {
		fmt.Fprintf(w, "\nHistogram:\n")
		most := 0
		for _, b := range s.Histogram {
			most = max(most, b.Count)
		}
		for _, b := range s.Histogram {
			bar := 0
			if most > 0 {
				bar = b.Count * 40 / most
			}
			fmt.Fprintf(w, "  %10s [%d]\t|%s\n", round(b.Le), b.Count, strings.Repeat("∎", bar))
		}
	}

	tw = tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "\nStatus codes:\n")
	codeNames := make([]string, 0, len(s.StatusCodes))
	for name := range s.StatusCodes {
		codeNames = append(codeNames, name)
	}
	slices.Sort(codeNames)
	for _, name := range codeNames {
		fmt.Fprintf(tw, "  [%s]\t%d\n", name, s.StatusCodes[name])
	}
	if len(s.Nodes) > 0 {
		fmt.Fprintf(tw, "\nNodes:\n")
		for _, n := range s.Nodes {
			fmt.Fprintf(tw, "  %s\t%s\t%d\n", n.Address, n.ID, n.Count)
		}
	}
	if len(s.Errors) > 0 {
		fmt.Fprintf(tw, "\nErrors:\n")
		for _, e := range s.Errors {
			fmt.Fprintf(tw, "  %d×\t%s\n", e.Count, e.Error)
		}
	}
	return tw.Flush()
}

// writeProgress rewrites the live line on a terminal.
func writeProgress(w io.Writer, s snapshot, p plan) {
	rate := 0.0
	if s.elapsed > 0 {
		rate = float64(s.done) / s.elapsed.Seconds()
	}
	of := ""
	if p.total > 0 {
		of = fmt.Sprintf("/%d", p.total)
	}
	left := ""
	if p.duration > 0 {
		left = fmt.Sprintf(", %s left", round(max(p.duration-s.elapsed, 0)))
	}
	fmt.Fprintf(w, "\r\033[K%d%s calls, %.0f/s, %d failed, %s%s", s.done, of, rate, s.failed, round(s.elapsed), left)
}

// round keeps three significant figures or so of a duration.
func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond)
	case d >= time.Microsecond:
		return d.Round(100 * time.Nanosecond)
	}
	return d
}
