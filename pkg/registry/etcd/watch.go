package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/connectivity"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Watcher = (*watcher)(nil)

const (
	// resyncBackoffMax bounds the pause between attempts to read the
	// registry again while etcd cannot be reached.
	resyncBackoffMax = 5 * time.Second
	// historyCheckTimeout bounds one check of where etcd's history is.
	historyCheckTimeout = 2 * time.Second
)

// position is where a watch is in etcd's history: the cluster it reads and
// a revision of that cluster.
type position struct {
	clusterID uint64
	revision  int64
}

// watcher turns etcd watches of the registry's prefixes into registry
// events. It keeps the records of every key it follows, so that a delete
// (which carries no value) is reported with the node it removed, and so
// that reading everything again after a gap yields just the difference.
type watcher struct {
	r       *Registry
	service string
	ranges  []keyRange

	events chan *registry.Event
	cancel context.CancelFunc
	done   chan struct{} // closed when run returns

	mu      sync.Mutex
	err     error
	stopped bool
}

// Watch implements registry.Registry. It reads the records first and then
// watches from the revision it read them at, so no change in between is
// lost; nodes that were there before produce no create event.
//
// The etcd client resumes a watch from its last revision after a
// disconnect. When that revision was compacted away, or the watch finds
// another history than the one it follows (etcd at an older revision than
// it saw, as after a member whose data was wiped or restored, or another
// cluster ID), the watcher reads everything again and reports the
// difference.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	o := registry.NewWatchOptions(opts...)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.ready(); err != nil {
		return nil, err
	}
	ranges, what := r.allRanges(), "watch"
	if o.Service != "" {
		ranges, what = r.serviceRanges(o.Service), fmt.Sprintf("watch service %q", o.Service)
	}
	readCtx, cancelRead := withDefaultTimeout(ctx)
	state, at, err := r.snapshot(readCtx, ranges, o.Service)
	cancelRead()
	if err != nil {
		return nil, r.wrapError(ctx, what, err)
	}
	wctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		r:       r,
		service: o.Service,
		ranges:  ranges,
		events:  make(chan *registry.Event),
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		cancel()
		return nil, fmt.Errorf("etcd registry: %s is closed", r)
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()
	go w.run(wctx, state, at)
	return w, nil
}

// Next implements registry.Watcher.
func (w *watcher) Next() (*registry.Event, error) {
	select {
	case ev := <-w.events:
		return ev, nil
	case <-w.done:
		w.mu.Lock()
		defer w.mu.Unlock()
		return nil, w.err
	}
}

// Stop implements registry.Watcher.
func (w *watcher) Stop() {
	w.mu.Lock()
	w.stopped = true
	w.mu.Unlock()
	w.cancel()
	<-w.done
	w.r.mu.Lock()
	delete(w.r.watchers, w)
	w.r.mu.Unlock()
}

func (w *watcher) finish(ctx context.Context, err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case w.stopped:
		w.err = registry.ErrWatcherStopped
	case err == nil:
		w.err = ctx.Err()
	default:
		w.err = err
	}
	if w.err == nil {
		w.err = registry.ErrWatcherStopped
	}
}

// watchResponse is one response from one of the range watches, or the end
// of that watch (closed).
type watchResponse struct {
	resp   clientv3.WatchResponse
	closed bool
}

func (w *watcher) run(ctx context.Context, state map[string][]*registry.Service, at position) {
	defer close(w.done)
	etcdWatcher := clientv3.NewWatcher(w.r.client)
	defer etcdWatcher.Close()

	reconnected := make(chan struct{}, 1)
	go followConnection(ctx, w.r.client, reconnected)
	progress := time.NewTicker(w.r.progressInterval)
	defer progress.Stop()

	for {
		err := w.follow(ctx, etcdWatcher, state, at, progress.C, reconnected)
		if ctx.Err() != nil {
			w.finish(ctx, nil)
			return
		}
		if err != nil && (errors.Is(err, ErrAuth) || errors.Is(err, ErrPermission)) {
			w.finish(ctx, err)
			return
		}
		// Read everything again and report what changed in the gap.
		w.r.resyncs.Add(1)
		fresh, freshAt, err := w.resync(ctx)
		if err != nil {
			w.finish(ctx, err)
			return
		}
		for _, ev := range registry.Diff(flatten(state), flatten(fresh), time.Now()) {
			if !w.emit(ctx, ev) {
				w.finish(ctx, nil)
				return
			}
		}
		state, at = fresh, freshAt
	}
}

// follow watches the ranges from the revision after at and applies events
// to state until the watches must be started again (it returns nil, or the
// error that made it stop) or ctx ends. On every tick and every reconnection
// it checks that etcd still has the history the watches follow.
func (w *watcher) follow(ctx context.Context, etcdWatcher clientv3.Watcher, state map[string][]*registry.Service, at position,
	tick <-chan time.Time, reconnected <-chan struct{},
) error {
	// A member that loses its leader ends the watch (rather than serving
	// it stale), and the watcher starts again, on a member with one.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	merged := make(chan watchResponse)
	var forwarders sync.WaitGroup
	defer forwarders.Wait()
	defer cancel()
	for _, rg := range w.ranges {
		ch := etcdWatcher.Watch(wctx, rg.key(), clientv3.WithPrefix(), clientv3.WithRev(at.revision+1))
		forwarders.Add(1)
		go func() {
			defer forwarders.Done()
			for resp := range ch {
				select {
				case merged <- watchResponse{resp: resp}:
				case <-wctx.Done():
					return
				}
			}
			select {
			case merged <- watchResponse{closed: true}:
			case <-wctx.Done():
			}
		}()
	}

	seen := at.revision // the highest revision etcd has shown this watch
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick:
			if w.historyChanged(ctx, at.clusterID, seen) {
				return nil // resync
			}
		case <-reconnected:
			if w.historyChanged(ctx, at.clusterID, seen) {
				return nil // resync
			}
		case m := <-merged:
			if m.closed {
				return nil
			}
			resp := m.resp
			if resp.CompactRevision != 0 {
				return nil // the revision to resume from is gone: resync
			}
			if err := resp.Err(); err != nil {
				return w.r.wrapError(ctx, "watch", err)
			}
			seen = max(seen, resp.Header.Revision)
			for _, ev := range resp.Events {
				if !w.apply(ctx, state, ev) {
					return nil
				}
			}
		}
	}
}

// historyChanged asks etcd, with a linearizable read, for its cluster ID
// and revision, and reports whether they show a history other than the one
// the watch follows: another cluster ID, or a revision below seen (which a
// linearizable read of the same history never returns). That is an etcd
// that lost its data or was restored from a backup, or another cluster at
// the same address. The etcd client would resume the watch from its own
// revision there and wait, perhaps for ever, for a revision the new history
// reaches only later, missing what that history holds: the watch must read
// everything again. When etcd cannot be asked it reports false, and the
// next tick asks again.
func (w *watcher) historyChanged(ctx context.Context, clusterID uint64, seen int64) bool {
	checkCtx, cancel := context.WithTimeout(ctx, historyCheckTimeout)
	defer cancel()
	// One key the watch may read, looked up without its value: only the
	// response header matters.
	key := w.ranges[0].key()
	if key == "" {
		key = "\x00"
	}
	resp, err := w.r.client.Get(checkCtx, key, clientv3.WithCountOnly())
	if err != nil {
		return false
	}
	return resp.Header.Revision < seen || resp.Header.ClusterId != clusterID
}

// apply updates state with one etcd event and emits what it changed. It
// returns false when ctx ended first.
func (w *watcher) apply(ctx context.Context, state map[string][]*registry.Service, ev *clientv3.Event) bool {
	key := string(ev.Kv.Key)
	before := state[key]
	var after []*registry.Service
	if ev.Type == mvccpb.PUT {
		after = w.r.decode(key, ev.Kv.Value, ev.Kv.ModRevision, w.service)
	} else {
		w.r.mu.Lock()
		delete(w.r.reported, key)
		w.r.mu.Unlock()
	}
	if len(after) > 0 {
		state[key] = after
	} else {
		delete(state, key)
	}
	for _, e := range registry.Diff(before, after, time.Now()) {
		if !w.emit(ctx, e) {
			return false
		}
	}
	return true
}

// resync reads the ranges again, retrying with back-off while etcd cannot
// be reached.
func (w *watcher) resync(ctx context.Context) (map[string][]*registry.Service, position, error) {
	backoff := 100 * time.Millisecond
	for {
		readCtx, cancel := withDefaultTimeout(ctx)
		state, at, err := w.r.snapshot(readCtx, w.ranges, w.service)
		cancel()
		if err == nil {
			return state, at, nil
		}
		if ctx.Err() != nil {
			return nil, position{}, ctx.Err()
		}
		wrapped := w.r.wrapError(ctx, "watch", err)
		if errors.Is(wrapped, ErrAuth) || errors.Is(wrapped, ErrPermission) {
			return nil, position{}, wrapped
		}
		select {
		case <-ctx.Done():
			return nil, position{}, ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, resyncBackoffMax)
	}
}

func (w *watcher) emit(ctx context.Context, ev *registry.Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}

// followConnection signals reconnected each time the client's connection
// becomes ready again after it was not.
func followConnection(ctx context.Context, client *clientv3.Client, reconnected chan<- struct{}) {
	cc := client.ActiveConnection()
	prev := cc.GetState()
	for cc.WaitForStateChange(ctx, prev) {
		state := cc.GetState()
		if state == connectivity.Ready && prev != connectivity.Ready {
			select {
			case reconnected <- struct{}{}:
			default:
			}
		}
		prev = state
	}
}
