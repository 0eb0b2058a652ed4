package nats

import (
	"context"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Watcher = (*watcher)(nil)

// maxQueued is how many events a watcher holds for a reader that is behind
// before it stops reading the bucket (which then holds back the server).
const maxQueued = 1024

// watcher turns a key watch of the bucket into registry events. It remembers
// the last record of every live node, so that a heartbeat (the same record
// with a later expiry) is no event, and it reports a node deleted when its
// expiry passes without a heartbeat, since expiry removes no key.
type watcher struct {
	r       *Registry
	kw      jetstream.KeyWatcher
	service string // "" for every service
	// gomicro receives go-micro's announcements on WatchSubject; nil when
	// the registry does not read go-micro's.
	gomicro    chan *natsgo.Msg
	gomicroSub *natsgo.Subscription

	events chan *registry.Event
	done   chan struct{} // closed once err is set
	exited chan struct{} // closed when run returns

	mu  sync.Mutex
	err error
}

// Watch implements registry.Registry. Nodes registered before the watch
// starts produce no create event; their changes, deletion and expiry do.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	o := registry.NewWatchOptions(opts...)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.ready(); err != nil {
		return nil, err
	}
	filter, what := jetstream.AllKeys, "watch"
	if o.Service != "" {
		filter, what = serviceFilter(o.Service), fmt.Sprintf("watch service %q", o.Service)
	}
	kv, err := r.keyValue(ctx)
	if err != nil {
		return nil, r.opError(what, err)
	}
	kw, err := kv.Watch(ctx, filter)
	if err != nil {
		return nil, r.opError(what, err)
	}
	w := &watcher{
		r:       r,
		kw:      kw,
		service: o.Service,
		events:  make(chan *registry.Event),
		done:    make(chan struct{}),
		exited:  make(chan struct{}),
	}
	if r.gomicro.read {
		w.gomicro = make(chan *natsgo.Msg, 256)
		sub, err := r.nc.ChanSubscribe(WatchSubject, w.gomicro)
		if err != nil {
			stopKeyWatch(kw)
			return nil, r.opError(what+" of go-micro's "+WatchSubject, err)
		}
		w.gomicroSub = sub
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		stopKeyWatch(kw)
		if w.gomicroSub != nil {
			_ = w.gomicroSub.Unsubscribe()
		}
		return nil, fmt.Errorf("nats registry: %s is closed", r)
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()

	go w.run(ctx, filter, what)
	return w, nil
}

// Next implements registry.Watcher.
func (w *watcher) Next() (*registry.Event, error) {
	select {
	case <-w.done:
		return nil, w.error()
	default:
	}
	select {
	case event := <-w.events:
		return event, nil
	case <-w.done:
		return nil, w.error()
	}
}

// Stop implements registry.Watcher. It returns once the key watch is gone.
func (w *watcher) Stop() {
	w.finish(registry.ErrWatcherStopped)
	<-w.exited
}

// finish records why the watch ended; the first reason wins.
func (w *watcher) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.done)
	}
}

func (w *watcher) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// run reads the key watch until the watcher is stopped, ctx ends or the watch
// breaks. After a reconnection it starts a fresh key watch and reports the
// difference between what it knew and what the bucket holds, rather than
// waiting for nats.go to notice that the old one went quiet.
func (w *watcher) run(ctx context.Context, filter, what string) {
	defer close(w.exited)
	defer func() {
		w.r.mu.Lock()
		delete(w.r.watchers, w)
		w.r.mu.Unlock()
	}()
	// kw is the key watch read now; kwCancel ends the context it was made
	// with (a key watch stops when that context ends).
	kw, kwCancel := w.kw, context.CancelFunc(func() {})
	defer func() {
		stopKeyWatch(kw)
		kwCancel()
	}()
	// retire stops a replaced key watch in the background: one made before
	// a reconnection may take seconds to let go (drainTimeout), and the
	// loop must go on meanwhile. run returns once they are stopped.
	var retiring sync.WaitGroup
	defer retiring.Wait()
	retire := func(old jetstream.KeyWatcher, cancel context.CancelFunc) {
		retiring.Go(func() {
			stopKeyWatch(old)
			cancel()
		})
	}
	// rewatchBucket starts a fresh key watch, waiting at most
	// rewatchTimeout for the server to make it: while the bucket has no
	// leader the request would hold the loop until ctx's deadline, or for
	// nats.go's default timeout.
	rewatchBucket := func() (jetstream.KeyWatcher, context.CancelFunc, error) {
		wctx, cancel := context.WithCancel(ctx)
		type made struct {
			kw  jetstream.KeyWatcher
			err error
		}
		result := make(chan made, 1)
		go func() {
			fresh, err := w.r.kv.Watch(wctx, filter) // r.kv: made by Watch, before this goroutine
			result <- made{fresh, err}
		}()
		timeout := time.NewTimer(rewatchTimeout)
		defer timeout.Stop()
		err := fmt.Errorf("no key watch within %s", rewatchTimeout)
		select {
		case m := <-result:
			if m.err == nil {
				return m.kw, cancel, nil
			}
			cancel()
			return nil, nil, m.err
		case <-timeout.C:
		case <-w.done:
			err = w.error()
		case <-ctx.Done():
			err = ctx.Err()
		}
		// Ending wctx ends the request; a watch made at that moment is
		// stopped.
		cancel()
		retiring.Go(func() {
			if m := <-result; m.err == nil {
				stopKeyWatch(m.kw)
			}
		})
		return nil, nil, err
	}
	if w.gomicroSub != nil {
		defer func() { _ = w.gomicroSub.Unsubscribe() }()
	}
	// goMicroKnown: the last announcement of each go-micro node.
	goMicroKnown := map[string]*registry.Service{}
	reconnected := w.r.nc.StatusChanged(natsgo.CONNECTED)
	defer w.r.nc.RemoveStatusListener(reconnected)

	// known: the last record of each node reported alive. A record that
	// has passed its expiry stays here until an expiry check, which asks
	// the bucket, reports the node gone.
	known := map[string]*record{}
	// syncing holds the initial values of a key watch until they are all
	// in; nil once they are.
	syncing := map[string]*record{}
	firstSync := true
	var queue []*registry.Event

	expiry := time.NewTimer(time.Hour)
	expiry.Stop()
	defer expiry.Stop()
	// graceUntil: a node known before is not expired before this time.
	// After the connection came back, after the bucket answered again and
	// after its stream elected a new leader, heartbeats could not be
	// written for a while: each service has one TTL to heartbeat again,
	// since a registry outage must not empty every caller's cache.
	var graceUntil time.Time
	extendGrace := func(until time.Time) {
		if until.After(graceUntil) {
			graceUntil = until
		}
	}
	// streamDown: the last expiry check found the bucket not answering.
	streamDown := false
	// rewatch: a fresh key watch was wanted (after a reconnection, or
	// because the watch missed refreshes) and could not be made (the bucket
	// had no leader yet): each expiry check asks again.
	rewatch := false
	alive := func(key string, rec *record, now time.Time) bool {
		return rec.liveAt(now) || (now.Before(graceUntil) && known[key] != nil)
	}
	schedule := func() {
		var next time.Time
		if rewatch {
			next = time.Now().Add(disconnectedRecheck)
		}
		for _, rec := range known {
			if rec.Expires.IsZero() {
				continue
			}
			at := rec.Expires
			if at.Before(graceUntil) {
				at = graceUntil
			}
			if next.IsZero() || at.Before(next) {
				next = at
			}
		}
		if next.IsZero() {
			expiry.Stop()
			return
		}
		expiry.Reset(max(time.Until(next), 0))
	}
	emit := func(typ registry.EventType, rec *record, now time.Time) {
		svc := registry.Clone(rec.Service)
		if typ != registry.EventDelete {
			svc.Nodes[0].Health = registry.HealthPassing
		}
		queue = append(queue, &registry.Event{Type: typ, Service: svc, Timestamp: now})
	}
	// change applies the latest value of key (nil: gone) and reports it.
	// A record past its expiry is no proof that its node is gone (the
	// bucket may not have taken heartbeats for a while): for a known node
	// it is kept for the expiry check to judge.
	change := func(key string, rec *record, now time.Time) {
		prev, wasKnown := known[key]
		switch {
		case rec == nil && wasKnown:
			delete(known, key)
			emit(registry.EventDelete, prev, now)
		case rec == nil, !wasKnown && !rec.liveAt(now):
			// a key never seen alive: nothing to report
		case !wasKnown:
			known[key] = rec
			emit(registry.EventCreate, rec, now)
		default:
			known[key] = rec
			if !sameContent(prev, rec) {
				emit(registry.EventUpdate, rec, now)
			}
		}
	}

	for {
		var out chan *registry.Event
		var head *registry.Event
		if len(queue) > 0 {
			out, head = w.events, queue[0]
		}
		updates := kw.Updates()
		if len(queue) >= maxQueued {
			updates = nil // let the reader catch up first
		}

		select {
		case <-w.done:
			return
		case <-ctx.Done():
			w.finish(ctx.Err())
			return
		case out <- head:
			queue[0] = nil
			queue = queue[1:]
		case <-expiry.C:
			if w.r.nc.Status() != natsgo.CONNECTED {
				// No heartbeat can arrive now: expire nothing until the
				// connection is back (see graceUntil).
				expiry.Reset(disconnectedRecheck)
				continue
			}
			leaderAge, ok := w.r.bucketLeaderAge(ctx)
			if !ok {
				// Connected, but the bucket's stream does not answer, or
				// has no leader (in a cluster, while its replicas elect
				// one): heartbeats cannot be written either, so expire
				// nothing, and give the services one TTL once it answers
				// again.
				streamDown = true
				expiry.Reset(disconnectedRecheck)
				continue
			}
			now := time.Now()
			ttl := longestTTL(known)
			if streamDown {
				streamDown = false
				extendGrace(now.Add(ttl))
			}
			if leaderAge < ttl {
				// The stream's leader took over less than a TTL ago, and
				// no heartbeat could be written before it did: a check
				// that never saw the bucket down (it was busy, or no
				// record was due while the replicas elected) must still
				// give the services one TTL from the election.
				extendGrace(now.Add(ttl - leaderAge))
			}
			missed := rewatch
			for key, rec := range known {
				if alive(key, rec, now) {
					continue
				}
				// Confirm with the bucket before reporting a node gone:
				// after a failover the key watch can miss refreshes.
				if fresh := w.r.liveRecord(ctx, key, now); fresh != nil {
					change(key, fresh, now)
					missed = true
					continue
				}
				change(key, nil, now)
			}
			if missed {
				// The key watch fell behind, or is still the one from
				// before a reconnection: start a new one.
				fresh, cancel, err := rewatchBucket()
				if err == nil {
					retire(kw, kwCancel)
					kw, kwCancel, syncing, rewatch = fresh, cancel, map[string]*record{}, false
				} else {
					rewatch = true // ask again at the next check
				}
			}
			schedule()
		case m := <-w.gomicro:
			for _, event := range goMicroEvents(m, w.service, time.Now()) {
				key := event.Service.Name + "\x00" + event.Service.Nodes[0].ID
				prev, wasKnown := goMicroKnown[key]
				switch {
				case event.Type == registry.EventDelete:
					delete(goMicroKnown, key)
				case wasKnown && sameRecord(prev, event.Service):
					continue // announced again, unchanged
				case wasKnown:
					event.Type = registry.EventUpdate
					goMicroKnown[key] = event.Service
				default:
					event.Type = registry.EventCreate
					goMicroKnown[key] = event.Service
				}
				queue = append(queue, event)
			}
		case <-reconnected:
			extendGrace(time.Now().Add(longestTTL(known)))
			fresh, cancel, err := rewatchBucket()
			if err != nil {
				// Most likely the bucket has no leader yet: the old
				// watch may recover by itself, and the expiry checks
				// ask again meanwhile.
				rewatch = true
				schedule()
				continue
			}
			retire(kw, kwCancel)
			kw, kwCancel, syncing, rewatch = fresh, cancel, map[string]*record{}, false
		case entry, ok := <-updates:
			if !ok {
				if err := ctx.Err(); err != nil {
					w.finish(err)
				} else {
					w.finish(w.r.opError(what, fmt.Errorf("key watch of bucket %q ended", w.r.bucket)))
				}
				return
			}
			now := time.Now()
			if entry == nil { // the initial values are in
				if firstSync {
					for key, rec := range syncing {
						if rec.liveAt(now) {
							known[key] = rec
						}
					}
					firstSync = false
				} else {
					for _, key := range slices.Sorted(maps.Keys(known)) {
						if _, still := syncing[key]; !still {
							change(key, nil, now)
						}
					}
					for _, key := range slices.Sorted(maps.Keys(syncing)) {
						change(key, syncing[key], now)
					}
				}
				syncing = nil
				schedule()
				continue
			}
			var rec *record // nil: the key is gone
			if entry.Operation() == jetstream.KeyValuePut {
				if decoded, err := decodeEntry(entry.Key(), entry.Value()); err == nil {
					rec = decoded
				}
			}
			if syncing != nil {
				if rec != nil {
					syncing[entry.Key()] = rec
				} else {
					delete(syncing, entry.Key())
				}
				continue
			}
			change(entry.Key(), rec, now)
			schedule()
		}
	}
}

// liveRecord reads key from the bucket and returns its record when it is
// live at now; nil when it is gone, expired or cannot be read.
func (r *Registry) liveRecord(ctx context.Context, key string, now time.Time) *record {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	kv, err := r.keyValue(ctx)
	if err != nil {
		return nil
	}
	entry, err := kv.Get(ctx, key)
	if err != nil || entry.Operation() != jetstream.KeyValuePut {
		return nil
	}
	rec, err := decodeEntry(entry.Key(), entry.Value())
	if err != nil || !rec.liveAt(now) {
		return nil
	}
	return rec
}

// bucketLeaderAge asks the bucket's stream for its status, within a
// second. ok is false when it does not answer or answers without a leader:
// while a cluster elects one, the stream's members answer for it, and no
// write can be made. age is how long its leader has led, by the server's
// clock; a stream that is not replicated, or a server that does not say,
// gives an age longer than any TTL.
func (r *Registry) bucketLeaderAge(ctx context.Context) (age time.Duration, ok bool) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	kv, err := r.keyValue(ctx)
	if err != nil {
		return 0, false
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return 0, false
	}
	return leaderAge(status)
}

// leaderAge is how long the leader of the bucket's stream has led at the
// time of status, math.MaxInt64 when status does not say; ok is false when
// status shows a cluster without a leader for the stream.
func leaderAge(status jetstream.KeyValueStatus) (age time.Duration, ok bool) {
	s, isBucket := status.(*jetstream.KeyValueBucketStatus)
	if !isBucket || s.StreamInfo() == nil || s.StreamInfo().Cluster == nil {
		return math.MaxInt64, true
	}
	info := s.StreamInfo()
	switch {
	case info.Cluster.Leader == "":
		return 0, false
	case info.Cluster.LeaderSince == nil || info.TimeStamp.IsZero():
		return math.MaxInt64, true
	default:
		return max(info.TimeStamp.Sub(*info.Cluster.LeaderSince), 0), true
	}
}

// rewatchTimeout bounds the request that starts a fresh key watch.
const rewatchTimeout = 2 * time.Second

// disconnectedRecheck is how often a watcher whose connection is down looks
// again before expiring anything.
const disconnectedRecheck = 500 * time.Millisecond

// longestTTL is the longest TTL among records, zero when none expires.
func longestTTL(records map[string]*record) time.Duration {
	var longest time.Duration
	for _, rec := range records {
		if ttl, err := time.ParseDuration(rec.TTL); err == nil && ttl > longest {
			longest = ttl
		}
	}
	return longest
}
