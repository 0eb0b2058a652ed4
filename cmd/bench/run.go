package bench

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/microtools/micro/pkg/transport"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/client"
	"github.com/microtools/micro/pkg/registry"
)

// maxRecorded bounds the latencies kept for percentiles; past it a run
// keeps counting but samples one latency in every few (reservoir-free:
// the first maxRecorded and then every stride-th).
const maxRecorded = 4_000_000

// plan is what one run does.
type plan struct {
	service, endpoint string
	concurrency       int
	total             int           // 0: no limit of calls
	duration          time.Duration // 0: no limit of time
	rps               float64       // 0: no limit of rate
	timeout           time.Duration // of each call
	headers           metadata.MD
	template          *requestTemplate
}

// outcome is what happened to one call.
type outcome struct {
	latency time.Duration
	code    codes.Code
	node    *registry.Node // of the last attempt, when one was made
	err     string         // "" when the call succeeded
}

// result is what a run saw.
type result struct {
	elapsed   time.Duration
	latencies []time.Duration // of every call, failed ones too
	codes     map[codes.Code]int
	nodes     map[string]int
	errors    map[string]int // by "code: message"
	count     int
	failed    int
}

// snapshot is the progress of a run, for the live line.
type snapshot struct {
	done, failed int64
	elapsed      time.Duration
}

// tally is what one worker of a run saw. Each worker keeps its own, so
// that recording a call takes no lock and touches no memory shared with
// the other workers, and keeps it small: a call's latency is 8 bytes with
// no pointer in it, so the collector does not scan what a long run
// accumulates; the node and the error of a call are counted as they come.
type tally struct {
	latencies []time.Duration
	ok        int
	failures  map[codes.Code]int // the codes of failed calls
	errors    map[string]int
	nodes     map[*registry.Node]int
	// The node of the latest calls and how many in a row went to it,
	// not yet in nodes: calls to one node in a row cost no map update.
	node      *registry.Node
	nodeCalls int
}

// record counts o.
func (t *tally) record(o outcome) {
	t.latencies = append(t.latencies, o.latency)
	if o.node != t.node {
		t.flushNode()
		t.node = o.node
	}
	t.nodeCalls++
	if o.err == "" {
		t.ok++
		return
	}
	if t.failures == nil {
		t.failures, t.errors = map[codes.Code]int{}, map[string]int{}
	}
	t.failures[o.code]++
	t.errors[o.err]++
}

// flushNode adds the calls in a row to t.node to nodes.
func (t *tally) flushNode() {
	if t.node != nil && t.nodeCalls > 0 {
		if t.nodes == nil {
			t.nodes = map[*registry.Node]int{}
		}
		t.nodes[t.node] += t.nodeCalls
	}
	t.node, t.nodeCalls = nil, 0
}

// runLoad makes the calls of p with p.concurrency workers spread over
// clients, and reports progress every 200ms when progress is not nil. It
// ends after p.total calls, after p.duration, or when ctx ends.
func runLoad(ctx context.Context, clients []*client.Client, p plan, progress func(snapshot)) *result {
	start := time.Now()
	// The run's time is up by the clock at end, when its context is also
	// cancelled, cutting the calls in flight. (A cancel, not a deadline: a
	// deadline would be sent with every call; see callTimer.) A worker
	// asks the clock, not only the context, whether to make another call.
	var end time.Time
	if p.duration > 0 {
		end = start.Add(p.duration)
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		defer cancel()
		endRun := time.AfterFunc(p.duration, cancel)
		defer endRun.Stop()
	}
	overAt := func(now time.Time) bool { return ctx.Err() != nil || (!end.IsZero() && !now.Before(end)) }
	var (
		issued, done, failed atomic.Int64
		wg                   sync.WaitGroup
		tallies              = make([]tally, p.concurrency)
	)
	var interval time.Duration
	if p.rps > 0 {
		interval = time.Duration(float64(time.Second) / p.rps)
	}

	for w := range p.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := clients[w%len(clients)]
			resolver := client.Resolver(p.service)
			var kept *prebuilt // the request, read once, when it is no template
			if p.template.tmpl == nil {
				kept = &prebuilt{text: p.template.text, resolver: resolver}
			}
			// The worker's own context and timeout: its calls hang off
			// it, not off the run's context, which all the workers share.
			timer := newCallTimer(ctx, p.timeout)
			defer timer.stop()
			t := &tallies[w]
			caller := newCaller(p, w)
			now := time.Now()
			for !overAt(now) {
				n := issued.Add(1) - 1 // the number of this call, from 0
				if p.total > 0 && n >= int64(p.total) {
					break
				}
				if interval > 0 {
					// Call n is due at start + n*interval: the callers
					// together keep to the rate, and a slow call does not
					// make the next ones hurry.
					due := start.Add(time.Duration(n) * interval)
					if wait := time.Until(due); wait > 0 {
						select {
						case <-time.After(wait):
						case <-ctx.Done():
						}
						if overAt(time.Now()) {
							break
						}
					}
				}
				var o outcome
				o, now = caller.call(timer, client, resolver, kept, p, int(n))
				if o.err != "" && overAt(now) {
					break // the run ended during this call: cut, not a failure
				}
				t.record(o)
				if progress != nil {
					done.Add(1)
					if o.err != "" {
						failed.Add(1)
					}
				}
			}
			t.flushNode()
		}()
	}

	stopProgress := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		if progress == nil {
			return
		}
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stopProgress:
				return
			case <-tick.C:
				progress(snapshot{done: done.Load(), failed: failed.Load(), elapsed: time.Since(start)})
			}
		}
	}()
	wg.Wait()
	elapsed := time.Since(start)
	close(stopProgress)
	<-progressDone
	return merge(elapsed, tallies)
}

// merge sums up the workers' tallies. Past maxRecorded calls it keeps the
// latency of one call in every few, in the workers' order.
func merge(elapsed time.Duration, tallies []tally) *result {
	res := &result{elapsed: elapsed, codes: map[codes.Code]int{}, nodes: map[string]int{}, errors: map[string]int{}}
	total := 0
	for i := range tallies {
		total += len(tallies[i].latencies)
	}
	stride := 1
	if total > maxRecorded {
		stride = (total + maxRecorded - 1) / maxRecorded
	}
	res.latencies = make([]time.Duration, 0, min(total, maxRecorded))
	i := 0
	for w := range tallies {
		t := &tallies[w]
		for _, latency := range t.latencies {
			if i%stride == 0 {
				res.latencies = append(res.latencies, latency)
			}
			i++
		}
		res.count += len(t.latencies)
		if t.ok > 0 {
			res.codes[codes.OK] += t.ok
		}
		for code, n := range t.failures {
			res.codes[code] += n
			res.failed += n
		}
		for msg, n := range t.errors {
			res.errors[msg] += n
		}
		for node, n := range t.nodes {
			res.nodes[node.ID+" "+node.Address] += n
		}
	}
	return res
}

// caller is what one worker of a run keeps from call to call: the options
// of its calls, made once, and the node its latest call went to.
type caller struct {
	id   int
	opts []call.InvokeOption
	node *registry.Node // set by the trace during a call
}

func newCaller(p plan, id int) *caller {
	c := &caller{id: id}
	trace := &call.ClientTrace{NodeSelected: func(selected *registry.Node, _ string) { c.node = selected }}
	// Responses are counted, not read: they are checked to be well-formed
	// protobuf without being decoded.
	c.opts = []call.InvokeOption{call.WithTrace(trace), call.WithoutDecodingResponses()}
	if len(p.headers) > 0 {
		c.opts = append(c.opts, call.WithHeaders(p.headers))
	}
	return c
}

// call makes call n, bounded by timer, and says how it went, and when it
// ended. With kept, the request is the one kept (read from JSON once);
// else the template's.
func (c *caller) call(timer *callTimer, client *client.Client, resolver call.Resolver, kept *prebuilt, p plan, n int) (outcome, time.Time) {
	var o outcome
	var supplier call.RequestSupplier
	if kept != nil {
		supplier = kept.supplier()
	} else {
		req, err := p.template.render(n, c.id)
		if err != nil {
			o.code, o.err = codes.InvalidArgument, "request template: "+err.Error()
			return o, time.Now()
		}
		supplier = call.NewJSONSupplier(strings.NewReader(req), resolver)
	}
	c.node = nil
	begin := time.Now()
	err := client.Call(timer.start(begin), p.service, p.endpoint, supplier, nil, c.opts...)
	ended := time.Now()
	timedOut := timer.end()
	o.latency = ended.Sub(begin)
	o.node = c.node
	switch {
	case err == nil:
		o.code = codes.OK
	case timedOut:
		// What a deadline of the call would have ended it with.
		o.code = codes.DeadlineExceeded
		o.err = o.code.String() + ": " + context.DeadlineExceeded.Error()
	default:
		o.code = codeOf(err)
		o.err = o.code.String() + ": " + messageOf(err)
	}
	return o, ended
}

// codeOf is the gRPC status code of a failed call: the status of the last
// attempt when there is one, Unavailable for a node that cannot be
// reached, DeadlineExceeded for a call out of time, Unknown otherwise.
func codeOf(err error) codes.Code {
	var rpcErr *call.RPCError
	if errors.As(err, &rpcErr) && rpcErr.Status != nil {
		return rpcErr.Status.Code()
	}
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	var connErr *transport.ConnectError
	switch {
	case errors.As(err, &connErr):
		return codes.Unavailable
	case errors.Is(err, context.DeadlineExceeded):
		return codes.DeadlineExceeded
	case errors.Is(err, context.Canceled):
		return codes.Canceled
	}
	return codes.Unknown
}

func messageOf(err error) string {
	var rpcErr *call.RPCError
	if errors.As(err, &rpcErr) && rpcErr.Status != nil {
		return rpcErr.Status.Message()
	}
	return err.Error()
}
