// Package memory is an in-process registry for tests and single-process use.
// Records expire after their TTL like in the networked backends; Close stops
// the goroutine that expires them.
package memory

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*Registry)(nil)

// Registry keeps records in memory. The zero value is not usable; use New.
type Registry struct {
	mu       sync.Mutex
	records  map[string]map[string]*record // service name -> node ID -> record
	watchers map[*watcher]struct{}
	now      func() time.Time

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// neverExpires is the expiry of a record registered with NoExpiry.
var neverExpires = time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC)

type record struct {
	svc     *registry.Service // one node
	expires time.Time
}

// Option changes how New builds the registry.
type Option func(*Registry)

// WithClock replaces time.Now, for tests that control expiry.
func WithClock(now func() time.Time) Option {
	return func(r *Registry) { r.now = now }
}

// New returns an empty registry and starts its expiry loop; call Close to stop it.
func New(opts ...Option) *Registry {
	r := &Registry{
		records:  map[string]map[string]*record{},
		watchers: map[*watcher]struct{}{},
		now:      time.Now,
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	for _, opt := range opts {
		opt(r)
	}
	go r.expireLoop(100 * time.Millisecond)
	return r
}

// Close stops the expiry loop and ends every watch.
func (r *Registry) Close() error {
	r.once.Do(func() {
		close(r.stop)
		<-r.done
		r.mu.Lock()
		for w := range r.watchers {
			w.close(registry.ErrWatcherStopped)
		}
		r.watchers = map[*watcher]struct{}{}
		r.mu.Unlock()
	})
	return nil
}

// String implements registry.Registry.
func (r *Registry) String() string { return "memory registry" }

// Register implements registry.Registry.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if err := registry.Validate(svc); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	o := registry.NewRegisterOptions(opts...)
	now := r.now()

	r.mu.Lock()
	defer r.mu.Unlock()
	nodes := r.records[svc.Name]
	if nodes == nil {
		nodes = map[string]*record{}
		r.records[svc.Name] = nodes
	}
	for _, node := range svc.Nodes {
		rec := &record{svc: registry.WithNode(svc, node), expires: now.Add(o.TTL)}
		if o.NoExpiry {
			rec.expires = neverExpires
		}
		prev, existed := nodes[node.ID]
		nodes[node.ID] = rec
		switch {
		case !existed:
			r.notify(registry.EventCreate, rec.svc, now)
		case len(registry.Diff([]*registry.Service{prev.svc}, []*registry.Service{rec.svc}, now)) > 0:
			r.notify(registry.EventUpdate, rec.svc, now)
		}
	}
	return nil
}

// Deregister implements registry.Registry.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil || svc.Name == "" {
		return fmt.Errorf("%w: the service has no name", registry.ErrInvalid)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	nodes := r.records[svc.Name]
	for _, node := range svc.Nodes {
		if rec, ok := nodes[node.ID]; ok {
			delete(nodes, node.ID)
			r.notify(registry.EventDelete, rec.svc, now)
		}
	}
	if len(nodes) == 0 {
		delete(r.records, svc.Name)
	}
	return nil
}

// GetService implements registry.Registry. Every live node is passing.
func (r *Registry) GetService(ctx context.Context, name string, _ ...registry.GetOption) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	records := r.liveLocked(name)
	r.mu.Unlock()
	if len(records) == 0 {
		return nil, fmt.Errorf("%w: %q in %s", registry.ErrNotFound, name, r)
	}
	return registry.Group(records), nil
}

// ListServices implements registry.Registry.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	var records []*registry.Service
	for name := range r.records {
		records = append(records, r.liveLocked(name)...)
	}
	r.mu.Unlock()
	return registry.Group(records), nil
}

func (r *Registry) liveLocked(name string) []*registry.Service {
	now := r.now()
	var out []*registry.Service
	for _, rec := range r.records[name] {
		if now.Before(rec.expires) {
			svc := registry.Clone(rec.svc)
			svc.Nodes[0].Health = registry.HealthPassing
			out = append(out, svc)
		}
	}
	return out
}

// Watch implements registry.Registry.
func (r *Registry) Watch(ctx context.Context, opts ...registry.WatchOption) (registry.Watcher, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	o := registry.NewWatchOptions(opts...)
	w := &watcher{
		service: o.Service,
		events:  make(chan *registry.Event, 128),
		done:    make(chan struct{}),
	}
	r.mu.Lock()
	select {
	case <-r.stop:
		r.mu.Unlock()
		return nil, fmt.Errorf("memory registry: %w", registry.ErrWatcherStopped)
	default:
	}
	r.watchers[w] = struct{}{}
	r.mu.Unlock()

	go func() {
		select {
		case <-ctx.Done():
			w.close(ctx.Err())
		case <-w.done:
		}
		r.mu.Lock()
		delete(r.watchers, w)
		r.mu.Unlock()
	}()
	return w, nil
}

// notify hands an event to every watcher; it must be called with r.mu held.
// A watcher that does not keep up loses events rather than blocking the
// registry.
func (r *Registry) notify(typ registry.EventType, svc *registry.Service, now time.Time) {
	for w := range r.watchers {
		if w.service != "" && w.service != svc.Name {
			continue
		}
		event := &registry.Event{Type: typ, Service: registry.Clone(svc), Timestamp: now}
		select {
		case w.events <- event:
		default:
		}
	}
}

func (r *Registry) expireLoop(every time.Duration) {
	defer close(r.done)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-ticker.C:
			r.expire()
		}
	}
}

func (r *Registry) expire() {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for name, nodes := range r.records {
		for id, rec := range nodes {
			if !now.Before(rec.expires) {
				delete(nodes, id)
				r.notify(registry.EventDelete, rec.svc, now)
			}
		}
		if len(nodes) == 0 {
			delete(r.records, name)
		}
	}
}

type watcher struct {
	service string
	events  chan *registry.Event

	mu   sync.Mutex
	err  error
	done chan struct{}
}

func (w *watcher) Next() (*registry.Event, error) {
	select {
	case <-w.done: // stopped: buffered events are not delivered
		return nil, w.err
	default:
	}
	select {
	case event := <-w.events:
		return event, nil
	case <-w.done:
		return nil, w.err
	}
}

func (w *watcher) Stop() { w.close(registry.ErrWatcherStopped) }

func (w *watcher) close(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err == nil {
		w.err = err
		close(w.done)
	}
}
