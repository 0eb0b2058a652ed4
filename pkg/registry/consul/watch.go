package consul

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/microtools/micro/pkg/registry"
)

// Back-off between attempts while the agent cannot be reached or cannot
// answer (no leader yet after a restart).
const (
	watchRetryMin = 100 * time.Millisecond
	watchRetryMax = 5 * time.Second
)

// Watch implements registry.Registry with Consul blocking queries. It reads the
// current state before it returns (an agent that cannot be reached then is an
// error wrapping registry.ErrUnreachable) and reports changes from there on:
// nodes that appear, change or go away among those GetService would return,
// so a node failing its checks is reported deleted. Later failures to reach
// the agent are retried with back-off; an error the agent returns that
// retrying cannot fix (such as a missing ACL permission) ends the watch and
// Next returns it.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	ctx, cancel := context.WithCancel(ctx)
	w := &watcher{
		reg:     r,
		service: o.Service,
		events:  make(chan *registry.Event),
		cancel:  cancel,
		done:    make(chan struct{}),
	}

	var follow func(context.Context) error
	if o.Service != "" {
		records, read, err := r.serviceRecords(ctx, o.Service, true, 0)
		if err != nil {
			cancel()
			return nil, r.wrapError(w.what(), err)
		}
		if len(records) == 0 && read.filtered {
			cancel()
			return nil, &aclError{op: w.what(), address: r.address,
				reason: fmt.Sprintf("hid the nodes of %q from the token given (ACL filter): the token needs service:read on it and node:read on its nodes", o.Service)}
		}
		w.last = registry.Group(records)
		follow = func(ctx context.Context) error { return w.followService(ctx, read.index) }
	} else {
		// The indexes come before the snapshot: a change in between wakes
		// the blocking queries at once, and the next snapshot shows it.
		healthIndex, err := r.healthIndex(ctx, 0)
		if err != nil {
			cancel()
			return nil, r.wrapError(w.what(), err)
		}
		services, read, err := r.list(ctx, true)
		if err != nil {
			cancel()
			return nil, r.wrapError(w.what(), err)
		}
		if len(services) == 0 {
			if err := r.listHidden(w.what(), nil, read); err != nil {
				cancel()
				return nil, err
			}
		}
		w.last = services
		follow = func(ctx context.Context) error { return w.followAll(ctx, read.index, healthIndex) }
	}
	go w.run(ctx, follow)
	return w, nil
}

var _ registry.Watcher = (*watcher)(nil)

type watcher struct {
	reg     *Registry
	service string // empty: every service
	events  chan *registry.Event
	cancel  context.CancelFunc
	stopped atomic.Bool

	done chan struct{} // closed when run returns; err is set by then
	err  error

	// last is the snapshot the latest events were computed from; only the
	// run goroutine uses it once Watch has returned.
	last []*registry.Service
}

// Next implements registry.Watcher.
func (w *watcher) Next() (*registry.Event, error) {
	if w.stopped.Load() {
		return nil, registry.ErrWatcherStopped
	}
	select {
	case ev := <-w.events:
		return ev, nil
	case <-w.done:
		return nil, w.err
	}
}

// Stop implements registry.Watcher. It cancels the blocking query in flight
// and returns once the watch has let go of it.
func (w *watcher) Stop() {
	w.stopped.Store(true)
	w.cancel()
	<-w.done
}

func (w *watcher) what() string {
	if w.service == "" {
		return "watch services"
	}
	return fmt.Sprintf("watch service %q", w.service)
}

func (w *watcher) run(ctx context.Context, follow func(context.Context) error) {
	defer close(w.done)
	defer w.cancel()
	err := follow(ctx)
	switch {
	case w.stopped.Load():
		w.err = registry.ErrWatcherStopped
	case ctx.Err() != nil:
		w.err = ctx.Err()
	default:
		w.err = err
	}
}

// followService follows one service with a blocking health query.
func (w *watcher) followService(ctx context.Context, index uint64) error {
	var retry backoff
	for {
		records, read, err := w.reg.serviceRecords(ctx, w.service, true, index)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !isRetryable(err) {
				return w.reg.wrapError(w.what(), err)
			}
			// A restarted agent counts its index from scratch: ask without
			// blocking once it answers again.
			index = 0
			if err := retry.wait(ctx); err != nil {
				return err
			}
			continue
		}
		retry.reset()
		index = nextIndex(index, read.index)
		if err := w.emit(ctx, registry.Group(records)); err != nil {
			return err
		}
	}
}

// followAll follows every service. Two blocking queries run side by side,
// one on the catalog's service list (registrations and their changes) and
// one on every health check (checks passing or failing); when either moves,
// a new snapshot is compared with the last one.
func (w *watcher) followAll(ctx context.Context, catalogIndex, healthIndex uint64) error {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel()
		wg.Wait()
	}()

	changed := make(chan struct{}, 1)
	failed := make(chan error, 2)
	follow := func(index uint64, query func(context.Context, uint64) (uint64, error)) {
		defer wg.Done()
		var retry backoff
		for {
			next, err := query(ctx, index)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				if !isRetryable(err) {
					failed <- err
					return
				}
				index = 0
				if retry.wait(ctx) != nil {
					return
				}
				continue
			}
			retry.reset()
			if next != index {
				select {
				case changed <- struct{}{}:
				default: // a snapshot is due already
				}
			}
			index = nextIndex(index, next)
		}
	}
	wg.Add(2)
	go follow(catalogIndex, w.reg.catalogIndex)
	go follow(healthIndex, w.reg.healthIndex)

	var retry backoff
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-failed:
			return w.reg.wrapError(w.what(), err)
		case <-changed:
		}
		for {
			services, _, err := w.reg.list(ctx, true)
			if err == nil {
				retry.reset()
				if err := w.emit(ctx, services); err != nil {
					return err
				}
				break
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !isRetryable(err) {
				return w.reg.wrapError(w.what(), err)
			}
			if err := retry.wait(ctx); err != nil {
				return err
			}
		}
	}
}

// emit sends one event per difference between the last snapshot and now.
func (w *watcher) emit(ctx context.Context, now []*registry.Service) error {
	events := registry.Diff(w.last, now, time.Now())
	w.last = now
	for _, ev := range events {
		select {
		case w.events <- ev:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// catalogIndex blocks until the catalog's list of services passes index and
// returns the new index.
func (r *Registry) catalogIndex(ctx context.Context, index uint64) (uint64, error) {
	q := queryOptions(ctx)
	q.WaitIndex = index
	_, meta, err := r.client.Catalog().Services(q)
	if err != nil {
		return 0, err
	}
	return meta.LastIndex, nil
}

// healthIndex blocks until any health check changes past index and returns
// the new index.
func (r *Registry) healthIndex(ctx context.Context, index uint64) (uint64, error) {
	q := queryOptions(ctx)
	q.WaitIndex = index
	_, meta, err := r.client.Health().State(api.HealthAny, q)
	if err != nil {
		return 0, err
	}
	return meta.LastIndex, nil
}

// nextIndex is the wait index after a blocking query that returned next,
// following Consul's advice: start over when the index goes backwards (a
// restarted agent) and never wait on index 0.
func nextIndex(prev, next uint64) uint64 {
	switch {
	case next < prev:
		return 0
	case next == 0:
		return 1
	default:
		return next
	}
}

// backoff doubles the wait between retries from watchRetryMin up to
// watchRetryMax.
type backoff struct{ next time.Duration }

func (b *backoff) wait(ctx context.Context) error {
	if b.next == 0 {
		b.next = watchRetryMin
	}
	timer := time.NewTimer(b.next)
	defer timer.Stop()
	b.next = min(2*b.next, watchRetryMax)
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (b *backoff) reset() { b.next = 0 }
