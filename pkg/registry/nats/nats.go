package nats

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	natsgo "github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/microtools/micro/pkg/natsconn"
	"github.com/microtools/micro/pkg/registry"
)

var _ registry.Registry = (*Registry)(nil)

const (
	// recordGrace is how long after its expiry the server keeps a record
	// that was not refreshed, when it can expire records one by one.
	recordGrace = time.Minute
	// markerTTL is how long the server keeps the marker of a removed record,
	// so that watchers see the removal.
	markerTTL = time.Minute
	// defaultRequestTimeout bounds a read when ctx has no deadline.
	defaultRequestTimeout = 10 * time.Second
	// drainTimeout bounds the wait for a stopped key watch to let go.
	drainTimeout = 5 * time.Second
)

// Registry is a registry.Registry kept in a JetStream key-value bucket. Make
// one with New and Close it when done.
type Registry struct {
	nc      *natsgo.Conn
	ownConn bool
	js      jetstream.JetStream
	// kv is the bucket's handle, made on first use (keyValue): reads go
	// through direct gets and need none, so a command that only reads
	// spares the request that makes it.
	kvMu sync.Mutex
	kv   jetstream.KeyValue
	// opened: the bucket was found or made (open), which sets js, maxAge,
	// msgTTL, bucketReplicas and direct. New opens it unless
	// WithLazyOpen; then the first operation that needs it does
	// (ensureOpen). Guarded by kvMu; read the fields it sets after
	// ensureOpen.
	opened  bool
	url     string // redacted, for messages
	bucket  string
	subject string // subject prefix of the bucket's keys: "$KV.<bucket>."
	stream  string
	// msgTTL: the bucket lets each record carry its own TTL (NATS 2.11+).
	msgTTL bool
	// maxAge: the bucket drops records older than this; zero when it keeps
	// them until they are removed.
	maxAge time.Duration
	// wantReplicas is Options.Replicas; bucketReplicas what the bucket has.
	wantReplicas, bucketReplicas int
	// direct: the bucket's stream answers direct gets (directLast).
	direct bool

	gomicro goMicro

	mu       sync.Mutex
	closed   bool
	watchers map[*watcher]struct{}
}

// New connects to NATS (or uses WithConn's connection), opens the registry
// bucket and creates it when it is missing. An unreachable server fails at
// once with an error that wraps registry.ErrUnreachable and names the URL; a
// server without JetStream fails with an error that says so.
func New(ctx context.Context, opts ...Option) (*Registry, error) {
	o := DefaultOptions()
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&o); err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats registry: not connected to %s: %w", natsconn.RedactURLs(o.URL), err)
	}
	r := &Registry{
		bucket:   o.Bucket,
		subject:  "$KV." + o.Bucket + ".",
		stream:   "KV_" + o.Bucket,
		watchers: map[*watcher]struct{}{},
		gomicro:  goMicro{read: o.GoMicro, answer: o.AnswerGoMicro, timeout: o.QueryTimeout},

		wantReplicas: o.Replicas,
	}
	if r.gomicro.timeout <= 0 {
		r.gomicro.timeout = DefaultQueryTimeout
	}
	if o.Conn != nil {
		r.nc = o.Conn
		r.url = natsconn.ConnURL(o.Conn)
	} else {
		r.url = natsconn.RedactURLs(o.URL)
		nc, err := connect(ctx, o)
		if err != nil {
			return nil, err
		}
		r.nc, r.ownConn = nc, true
	}
	if o.LazyOpen {
		return r, nil
	}
	if err := r.open(ctx); err != nil {
		if r.ownConn {
			r.nc.Close()
		}
		return nil, err
	}
	r.opened = true
	return r, nil
}

// ensureOpen opens the bucket when New did not (WithLazyOpen). Its error is
// an *openError, which opError gives as it is.
func (r *Registry) ensureOpen(ctx context.Context) error {
	r.kvMu.Lock()
	defer r.kvMu.Unlock()
	return r.ensureOpenLocked(ctx)
}

func (r *Registry) ensureOpenLocked(ctx context.Context) error {
	if r.opened {
		return nil
	}
	if err := r.open(ctx); err != nil {
		return &openError{err: err}
	}
	r.opened = true
	return nil
}

// openError is the error of a bucket that a lazy registry could not open:
// it says all there is to say (see bucketError).
type openError struct{ err error }

func (e *openError) Error() string { return e.err.Error() }
func (e *openError) Unwrap() error { return e.err }

// mayReadDirect tells whether a read should try a direct get first: the
// bucket's stream allows them, or it is not opened yet (a bucket that
// does not answers "no responders", and the read falls back).
func (r *Registry) mayReadDirect() bool {
	r.kvMu.Lock()
	defer r.kvMu.Unlock()
	return !r.opened || r.direct
}

// connect dials the servers with reconnection that never gives up.
func connect(ctx context.Context, o Options) (*natsgo.Conn, error) {
	nc, err := natsconn.Connect(ctx, natsconn.Options{
		URL:            o.URL,
		Name:           "micro registry",
		ConnectTimeout: o.ConnectTimeout,
		ReconnectWait:  o.ReconnectWait,
		NATSOptions:    o.NATSOptions,
	})
	switch {
	case err == nil:
		return nc, nil
	case errors.Is(err, natsconn.ErrUnreachable):
		return nil, &wrapError{msg: "nats registry: " + err.Error(), errs: []error{registry.ErrUnreachable, err}}
	default:
		return nil, fmt.Errorf("nats registry: %w", err)
	}
}

// open finds the bucket, or creates it: one stream info request for a
// bucket that exists.
func (r *Registry) open(ctx context.Context) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	js, err := jetstream.New(r.nc)
	if err != nil {
		return r.bucketError(err)
	}
	r.js = js
	info, err := r.streamConfig(ctx)
	if errors.Is(err, natsgo.ErrNoResponders) {
		// Nobody answers the JetStream API: ask in the way that tells a
		// server without JetStream apart.
		if _, infoErr := js.AccountInfo(ctx); infoErr != nil {
			err = infoErr
		}
	}
	if err == nil {
		if info.MaxMsgsPerSubject >= 1 { // a stream that is a bucket
			r.maxAge = info.MaxAge
			r.msgTTL = info.AllowMsgTTL
			r.direct = info.AllowDirect
			r.bucketReplicas = info.Replicas
			return nil
		}
		err = jetstream.ErrBucketNotFound
	}
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		err = jetstream.ErrBucketNotFound
	}
	var kv jetstream.KeyValue
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		cfg := jetstream.KeyValueConfig{
			Bucket:         r.bucket,
			Description:    "micro service registry: one record per service node",
			History:        1,
			Storage:        jetstream.FileStorage,
			LimitMarkerTTL: markerTTL,
			Replicas:       r.replicas(),
		}
		// A cluster whose members started together may not place the
		// replicas at once: natsconn.WhilePlacing asks again meanwhile.
		err = natsconn.WhilePlacing(ctx, func(ctx context.Context) error {
			var createErr error
			kv, createErr = js.CreateOrUpdateKeyValue(ctx, cfg)
			return createErr
		})
		if errors.Is(err, jetstream.ErrLimitMarkerTTLNotSupported) {
			// A server older than 2.11: no TTL per record, so let the
			// bucket drop records by age instead.
			cfg.LimitMarkerTTL, cfg.TTL = 0, DefaultMaxAge
			kv, err = js.CreateOrUpdateKeyValue(ctx, cfg)
		}
	}
	if err != nil {
		return r.bucketError(err)
	}
	status, err := kv.Status(ctx)
	if err != nil {
		return r.bucketError(err)
	}
	r.kv = kv
	r.maxAge = status.TTL()
	if s, ok := status.(*jetstream.KeyValueBucketStatus); ok && s.StreamInfo() != nil {
		r.msgTTL = s.StreamInfo().Config.AllowMsgTTL
		r.bucketReplicas = s.StreamInfo().Config.Replicas
		r.direct = s.StreamInfo().Config.AllowDirect
	} else {
		r.msgTTL = status.LimitMarkerTTL() > 0
	}
	return nil
}

// bucketConfig is the part of the bucket stream's configuration that the
// registry uses.
type bucketConfig struct {
	MaxAge            time.Duration `json:"max_age"`
	MaxMsgsPerSubject int64         `json:"max_msgs_per_subject"`
	AllowMsgTTL       bool          `json:"allow_msg_ttl"`
	AllowDirect       bool          `json:"allow_direct"`
	Replicas          int           `json:"num_replicas"`
}

// streamConfig asks for the bucket stream's info and reads only its
// bucketConfig: jetstream's Stream decodes the whole StreamInfo, and
// encoding/json's first use of that large type costs a command more than
// the round trip. A missing stream is jetstream.ErrStreamNotFound, a
// JetStream that is off jetstream.ErrJetStreamNotEnabled(ForAccount),
// nobody answering natsgo.ErrNoResponders.
func (r *Registry) streamConfig(ctx context.Context) (bucketConfig, error) {
	msg, err := r.nc.RequestWithContext(ctx, "$JS.API.STREAM.INFO."+r.stream, nil)
	if err != nil {
		return bucketConfig{}, err
	}
	var reply struct {
		Error  *jetstream.APIError `json:"error"`
		Config bucketConfig        `json:"config"`
	}
	if err := json.Unmarshal(msg.Data, &reply); err != nil {
		return bucketConfig{}, fmt.Errorf("stream info of %s: %w", r.stream, err)
	}
	if apiErr := reply.Error; apiErr != nil {
		switch apiErr.ErrorCode {
		case jetstream.JSErrCodeStreamNotFound:
			return bucketConfig{}, jetstream.ErrStreamNotFound
		case jetstream.JSErrCodeJetStreamNotEnabled:
			return bucketConfig{}, jetstream.ErrJetStreamNotEnabled
		case jetstream.JSErrCodeJetStreamNotEnabledForAccount:
			return bucketConfig{}, jetstream.ErrJetStreamNotEnabledForAccount
		}
		return bucketConfig{}, apiErr
	}
	return reply.Config, nil
}

// keyValue returns the bucket's handle, making it on first use (and
// opening the bucket first when New did not).
func (r *Registry) keyValue(ctx context.Context) (jetstream.KeyValue, error) {
	r.kvMu.Lock()
	defer r.kvMu.Unlock()
	if r.kv != nil {
		return r.kv, nil
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	if err := r.ensureOpenLocked(ctx); err != nil {
		return nil, err
	}
	if r.kv != nil { // made by open
		return r.kv, nil
	}
	kv, err := r.js.KeyValue(ctx, r.bucket)
	if err != nil {
		return nil, r.bucketError(err)
	}
	r.kv = kv
	return kv, nil
}

func (r *Registry) bucketError(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return jetStreamDisabled(r.url, err)
	case r.nc.Status() != natsgo.CONNECTED || lostConnection(err):
		return unreachable(r.url, err)
	default:
		return fmt.Errorf("nats registry: cannot open bucket %q in nats at %s: %w", r.bucket, r.url, err)
	}
}

// Close stops every watch and closes the connection if New made it. It is
// safe to call more than once.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	watchers := make([]*watcher, 0, len(r.watchers))
	for w := range r.watchers {
		watchers = append(watchers, w)
	}
	r.mu.Unlock()
	for _, w := range watchers {
		w.Stop()
	}
	r.stopAnswering()
	if r.ownConn {
		r.nc.Close()
	}
	return nil
}

// String implements registry.Registry: "nats at nats://127.0.0.1:4222".
func (r *Registry) String() string { return "nats at " + r.url }

// Bucket is the name of the key-value bucket that holds the records.
func (r *Registry) Bucket() string { return r.bucket }

// ready fails fast when the registry is closed or the connection is down,
// rather than letting a request wait for its deadline.
func (r *Registry) ready() error {
	r.mu.Lock()
	closed := r.closed
	r.mu.Unlock()
	if closed {
		return fmt.Errorf("nats registry: %s is closed", r)
	}
	if cause := r.connectionDown(); cause != nil {
		return unreachable(r.url, cause)
	}
	return nil
}

// connectionDown says why the connection is not usable, or returns nil.
func (r *Registry) connectionDown() error {
	switch status := r.nc.Status(); status {
	case natsgo.CONNECTED:
		return nil
	case natsgo.CLOSED:
		return natsgo.ErrConnectionClosed
	default:
		state := strings.ToLower(status.String())
		if last := r.nc.LastError(); last != nil && !errors.Is(last, natsgo.ErrNoServers) {
			return fmt.Errorf("connection lost, %s: %w", state, last)
		}
		return fmt.Errorf("connection lost, %s", state)
	}
}

// whileConnected returns a context that also ends when the connection goes
// down, so that a request in flight when the server goes away fails at once
// instead of waiting for its deadline. Call done when the request is over.
func (r *Registry) whileConnected(ctx context.Context) (_ context.Context, done func()) {
	ctx, cancel := context.WithCancelCause(ctx)
	down := r.nc.StatusChanged(natsgo.DISCONNECTED, natsgo.RECONNECTING, natsgo.CLOSED)
	go func() {
		select {
		case <-down:
			cancel(errConnectionLost)
		case <-ctx.Done():
		}
	}()
	if r.nc.Status() != natsgo.CONNECTED { // went down before we listened
		cancel(errConnectionLost)
	}
	return ctx, func() {
		cancel(nil)
		r.nc.RemoveStatusListener(down)
	}
}

var errConnectionLost = errors.New("connection lost")

// opError describes a failed operation on the bucket.
func (r *Registry) opError(action string, err error) error {
	var open *openError
	if errors.As(err, &open) {
		return open.err // says what failed and where
	}
	switch {
	case errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount):
		return jetStreamDisabled(r.url, err)
	case lostConnection(err) || r.connectionDown() != nil:
		cause := natsconn.ShortCause(err)
		if down := r.connectionDown(); down != nil {
			cause = down.Error()
		} else if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, natsgo.ErrTimeout) {
			cause = "no reply before the deadline: " + cause
		}
		return &wrapError{
			msg:  fmt.Sprintf("nats registry: %s: cannot reach nats at %s: %s", action, r.url, cause),
			errs: []error{registry.ErrUnreachable, err},
		}
	default:
		return fmt.Errorf("nats registry: %s in %s: %w", action, r, err)
	}
}

// Register implements registry.Registry. Each node is written as a record
// that expires after the TTL; registering again is the heartbeat.
func (r *Registry) Register(ctx context.Context, svc *registry.Service, opts ...registry.RegisterOption) error {
	if err := registry.Validate(svc); err != nil {
		return err
	}
	o := registry.NewRegisterOptions(opts...)
	// A bucket that is open refuses before anything else; one that a lazy
	// registry has not opened yet, once it is.
	wasOpen := r.isOpen()
	if wasOpen {
		if err := r.checkExpiry(svc, o); err != nil {
			return err
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.ready(); err != nil {
		return err
	}
	if !wasOpen {
		if err := r.ensureOpen(ctx); err != nil {
			return r.opError(fmt.Sprintf("register service %q", svc.Name), err)
		}
		if err := r.checkExpiry(svc, o); err != nil {
			return err
		}
	}
	ctx, done := r.whileConnected(ctx)
	defer done()
	now := time.Now()
	for _, node := range svc.Nodes {
		rec := newRecord(svc, node, now, o)
		data, err := encodeRecord(rec)
		if err != nil {
			return fmt.Errorf("nats registry: encode service %q node %q: %w", svc.Name, node.ID, err)
		}
		pubOpts := []jetstream.PublishOpt{jetstream.WithExpectStream(r.stream)}
		if r.msgTTL && !rec.Expires.IsZero() {
			pubOpts = append(pubOpts, jetstream.WithMsgTTL(o.TTL+recordGrace))
		}
		if _, err := r.js.Publish(ctx, r.subject+recordKey(svc.Name, node.ID), data, pubOpts...); err != nil {
			return r.opError(fmt.Sprintf("register service %q node %q", svc.Name, node.ID), err)
		}
	}
	return r.remember(svc, o)
}

// isOpen tells whether the bucket is open (see ensureOpen).
func (r *Registry) isOpen() bool {
	r.kvMu.Lock()
	defer r.kvMu.Unlock()
	return r.opened
}

// checkExpiry refuses a registration that a bucket which drops records by
// age would lose. Call it once the bucket is open.
func (r *Registry) checkExpiry(svc *registry.Service, o registry.RegisterOptions) error {
	if r.maxAge <= 0 {
		return nil
	}
	switch {
	case o.NoExpiry:
		return fmt.Errorf("%w: service %q: bucket %q in %s drops records after %s, so they cannot live without expiry; register with a TTL",
			registry.ErrInvalid, svc.Name, r.bucket, r, r.maxAge)
	case o.TTL > r.maxAge:
		return fmt.Errorf("%w: service %q: ttl %s is longer than the %s after which bucket %q in %s drops records",
			registry.ErrInvalid, svc.Name, o.TTL, r.maxAge, r.bucket, r)
	}
	return nil
}

// Deregister implements registry.Registry.
func (r *Registry) Deregister(ctx context.Context, svc *registry.Service) error {
	if svc == nil || strings.TrimSpace(svc.Name) == "" {
		return fmt.Errorf("%w: the service has no name", registry.ErrInvalid)
	}
	for i, node := range svc.Nodes {
		if node == nil || node.ID == "" {
			return fmt.Errorf("%w: service %q node %d has no id", registry.ErrInvalid, svc.Name, i)
		}
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := r.ready(); err != nil {
		return err
	}
	ctx, done := r.whileConnected(ctx)
	defer done()
	kv, err := r.keyValue(ctx)
	if err != nil {
		return r.opError(fmt.Sprintf("deregister service %q", svc.Name), err)
	}
	for _, node := range svc.Nodes {
		key := recordKey(svc.Name, node.ID)
		var err error
		if r.msgTTL {
			// A purge leaves a marker that watchers see; with a TTL the
			// marker goes away too, and the key leaves no trace.
			err = kv.Purge(ctx, key, jetstream.PurgeTTL(markerTTL))
		} else {
			err = kv.Delete(ctx, key)
		}
		if err != nil {
			return r.opError(fmt.Sprintf("deregister service %q node %q", svc.Name, node.ID), err)
		}
	}
	r.forget(svc)
	return nil
}

// GetService implements registry.Registry. Every live node is passing; a
// node past its expiry is gone, so IncludeUnhealthy changes nothing. The
// nodes of go-micro services that answer on micro.nats.query are added;
// when the bucket holds nodes of the service, the answers that arrived
// while it was read are taken without waiting for more.
func (r *Registry) GetService(ctx context.Context, name string, _ ...registry.GetOption) ([]*registry.Service, error) {
	if strings.TrimSpace(name) == "" {
		return nil, notFound(name, r.String())
	}
	early := make(chan struct{})
	answers := r.startQuery(ctx, name, early)
	records, err := r.snapshot(ctx, serviceFilter(name), fmt.Sprintf("get service %q", name))
	if err != nil {
		close(early)
		<-answers
		return nil, err
	}
	var services []*registry.Service
	for _, rec := range records {
		if rec.Service.Name == name {
			services = append(services, rec.live())
		}
	}
	if len(services) > 0 {
		close(early)
	}
	services = mergeGoMicro(services, <-answers)
	if len(services) == 0 {
		return nil, notFound(name, r.String())
	}
	return registry.Group(services), nil
}

// ListServices implements registry.Registry, with the go-micro services
// that answer on micro.nats.query.
func (r *Registry) ListServices(ctx context.Context) ([]*registry.Service, error) {
	answers := r.startQuery(ctx, "", nil)
	records, err := r.snapshot(ctx, jetstream.AllKeys, "list services")
	if err != nil {
		<-answers
		return nil, err
	}
	services := make([]*registry.Service, 0, len(records))
	for _, rec := range records {
		services = append(services, rec.live())
	}
	return registry.Group(mergeGoMicro(services, <-answers)), nil
}

// startQuery asks go-micro services: the query is sent now, and the
// answers are collected in the background; the channel gives them.
func (r *Registry) startQuery(ctx context.Context, name string, early <-chan struct{}) <-chan []*registry.Service {
	answers := make(chan []*registry.Service, 1)
	if !r.gomicro.read {
		answers <- nil
		return answers
	}
	collect := r.queryGoMicro(ctx, name)
	go func() { answers <- collect(early) }()
	return answers
}

// snapshot reads the live records under filter: with one direct get where
// the server can (directLast), else with a key watch: the server sends the
// latest value of every key, then the watch marks the end of the initial
// values.
func (r *Registry) snapshot(ctx context.Context, filter, action string) ([]*record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := r.ready(); err != nil {
		return nil, err
	}
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	ctx, done := r.whileConnected(ctx)
	defer done()
	if records, ok, err := r.directLast(ctx, filter); err != nil {
		return nil, r.opError(action, err)
	} else if ok {
		return records, nil
	}
	kv, err := r.keyValue(ctx)
	if err != nil {
		return nil, r.opError(action, err)
	}
	kw, err := kv.Watch(ctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, r.opError(action, err)
	}
	defer stopKeyWatch(kw)

	now := time.Now()
	var records []*record
	for {
		select {
		case entry, ok := <-kw.Updates():
			if !ok {
				return nil, r.opError(action, natsgo.ErrConnectionClosed)
			}
			if entry == nil { // end of the initial values
				return records, nil
			}
			if entry.Operation() != jetstream.KeyValuePut {
				continue
			}
			rec, err := decodeEntry(entry.Key(), entry.Value())
			if err != nil || !rec.liveAt(now) {
				continue // not ours, or expired: gone
			}
			records = append(records, rec)
		case <-ctx.Done():
			return nil, r.opError(action, ctx.Err())
		}
	}
}

// withDefaultTimeout gives ctx a deadline when it has none.
func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, defaultRequestTimeout)
}

// stopKeyWatch stops kw and drains its channel until nats.go closes it, so
// that its delivery goroutine is not left blocked on a full channel.
func stopKeyWatch(kw jetstream.KeyWatcher) {
	_ = kw.Stop()
	timeout := time.NewTimer(drainTimeout)
	defer timeout.Stop()
	for {
		select {
		case _, ok := <-kw.Updates():
			if !ok {
				return
			}
		case <-timeout.C:
			return
		}
	}
}
