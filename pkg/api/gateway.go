package api

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/microtools/micro/pkg/registry"
)

// Defaults of Options.
const (
	// DefaultMaxBodyBytes bounds a request body when Options.MaxBodyBytes
	// is zero.
	DefaultMaxBodyBytes = 4 << 20
	// DefaultTimeout bounds a call when Options.Timeout is zero and the
	// request asks for no time limit (Connect-Timeout-Ms, Grpc-Timeout).
	DefaultTimeout = 30 * time.Second
)

const invalidArgument = codes.InvalidArgument

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

// Options configure a Gateway. Registry and Client are required.
type Options struct {
	// Registry is where services are listed and watched; only services
	// found there are reachable.
	Registry registry.Registry
	// Client calls the services.
	Client Client

	// Headers is the allow list of request headers passed to services as
	// gRPC metadata, and of response metadata passed back as headers:
	// names ("Authorization") or prefixes ("X-*"), case-insensitive.
	// Empty: DefaultHeaders.
	Headers []string
	// MaxBodyBytes bounds a request body; a larger one is answered 413.
	// Zero: DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Timeout bounds each call; a request may ask for less (or more) with
	// Connect-Timeout-Ms or Grpc-Timeout, up to MaxTimeout. Zero:
	// DefaultTimeout. Server streams are bounded by it too.
	Timeout time.Duration
	// MaxTimeout caps the time limit a request may ask for. Zero: no cap.
	MaxTimeout time.Duration
	// CORSOrigins are the origins (scheme://host[:port]) browsers may call
	// from; "*" allows any. Empty: no CORS headers, so browsers call only
	// from the gateway's own origin.
	CORSOrigins []string
	// Hosts, when set, is checked before anything else: a request whose
	// Host it refuses is answered 403 (DNS rebinding protection) and
	// logged like any other answer.
	Hosts *HostCheck
	// AuthToken, when set, is required as "Authorization: Bearer TOKEN" on
	// every request but GET /healthz (and CORS preflights); it is not
	// passed on to services.
	AuthToken string
	// Logger, when set, gets one access log record per request.
	Logger *slog.Logger
	// Metrics, when set, writes the embedding program's own metrics, which
	// GET /metrics serves after the gateway's (micro_api_*) in place of the
	// Go and process metrics (go_*, process_*) the gateway writes otherwise.
	Metrics MetricsWriter
	// Routes are extra handlers by path prefix ("/ui/"), behind the same
	// authentication, CORS and access log: the console mounts itself here.
	Routes map[string]http.Handler
	// DescriptorTTL is how long the descriptors of a service are kept
	// before they are asked for again, besides being dropped whenever the
	// registry says the service changed. Zero: one minute.
	DescriptorTTL time.Duration
}

// Gateway serves the services of a registry over HTTP. Build it with New;
// Close stops its registry watch.
type Gateway struct {
	opts        Options
	headerRules []headerRule
	cors        map[string]bool
	corsAny     bool
	metrics     *metrics
	routes      []prefixRoute

	services   *serviceIndex
	events     *eventHub
	formatters sync.Map // service name → call.Formatter
	// headerNames caches the allow list's decisions (metadata.go).
	headerNames headerNames
	// bodies are request body buffers for reuse (invoke.go).
	bodies  sync.Pool
	console *console // MountConsole (console.go)

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type prefixRoute struct {
	prefix  string
	handler http.Handler
}

var _ http.Handler = (*Gateway)(nil)

// New returns a Gateway and starts its registry watch.
func New(opts Options) (*Gateway, error) {
	if opts.Registry == nil {
		return nil, errors.New("api: no registry: set Options.Registry")
	}
	if opts.Client == nil {
		return nil, errors.New("api: no client: set Options.Client")
	}
	if len(opts.Headers) == 0 {
		opts.Headers = DefaultHeaders()
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.DescriptorTTL <= 0 {
		opts.DescriptorTTL = time.Minute
	}
	rules, err := parseHeaderRules(opts.Headers)
	if err != nil {
		return nil, err
	}
	g := &Gateway{opts: opts, headerRules: rules, cors: map[string]bool{}}
	for _, origin := range opts.CORSOrigins {
		origin = strings.TrimRight(strings.TrimSpace(origin), "/")
		switch {
		case origin == "*":
			g.corsAny = true
		case strings.HasPrefix(origin, "http://") || strings.HasPrefix(origin, "https://"):
			g.cors[strings.ToLower(origin)] = true
		case origin != "":
			return nil, fmt.Errorf("api: CORS origin %q: want scheme://host[:port] (http://localhost:3000) or *", origin)
		}
	}
	for prefix, h := range opts.Routes {
		if !strings.HasPrefix(prefix, "/") || prefix == "/" {
			return nil, fmt.Errorf("api: route prefix %q: want a path such as /ui/", prefix)
		}
		g.routes = append(g.routes, prefixRoute{prefix: prefix, handler: h})
	}
	g.metrics = newMetrics(opts.Metrics)
	g.ctx, g.cancel = context.WithCancel(context.Background())
	g.events = newEventHub()
	g.services = newServiceIndex(g)
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		g.watch(g.ctx)
	}()
	return g, nil
}

// Close stops the registry watch and ends the event streams in progress.
func (g *Gateway) Close() error {
	g.cancel()
	g.events.close()
	g.wg.Wait()
	return nil
}

// requestInfo is what the access log and the metrics say of one request;
// handlers fill it in as they learn.
type requestInfo struct {
	protocol string
	service  string
	endpoint string
	code     codes.Code
	codeSet  bool
	err      string
}

func (i *requestInfo) setCode(code codes.Code, err string) {
	i.code, i.codeSet, i.err = code, true, err
}

type infoKey struct{}

func infoOf(ctx context.Context) *requestInfo {
	if info, ok := ctx.Value(infoKey{}).(*requestInfo); ok {
		return info
	}
	return &requestInfo{}
}

// recorder notes the status and size of a response.
type recorder struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController flush through the recorder.
func (r *recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// exchange is what the gateway keeps of one request while it serves it:
// the response recorder and the request info, in one allocation.
type exchange struct {
	rec  recorder
	info requestInfo
}

// ServeHTTP serves one request.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	x := &exchange{rec: recorder{ResponseWriter: w}, info: requestInfo{protocol: "http"}}
	r = r.WithContext(context.WithValue(r.Context(), infoKey{}, &x.info))
	g.serve(&x.rec, r)
	g.finish(r, &x.rec, &x.info, start, time.Since(start))
}

func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	if g.opts.Hosts != nil && !g.opts.Hosts.Allowed(r) {
		g.writeError(w, r, g.opts.Hosts.refusal(r))
		return
	}
	if !g.applyCORS(w, r) {
		return
	}
	if r.URL.Path == "/healthz" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
		return
	}
	if g.servePublic(w, r) { // the console's files (console.go)
		return
	}
	if !g.authorized(w, r) {
		return
	}
	for _, route := range g.routes {
		if strings.HasPrefix(r.URL.Path, route.prefix) || r.URL.Path+"/" == route.prefix {
			route.handler.ServeHTTP(w, r)
			return
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		g.serveGet(w, r)
	case http.MethodPost:
		g.servePost(w, r)
	default:
		w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
		g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: sprintf("method %s is not served: call with POST, read with GET", r.Method), HTTPStatus: http.StatusMethodNotAllowed})
	}
}

// authorized checks the bearer token, answering 401 when it is missing or
// wrong.
func (g *Gateway) authorized(w http.ResponseWriter, r *http.Request) bool {
	if g.opts.AuthToken == "" {
		return true
	}
	const scheme = "bearer "
	header := r.Header.Get("Authorization")
	if len(header) > len(scheme) && strings.EqualFold(header[:len(scheme)], scheme) &&
		subtle.ConstantTimeCompare([]byte(strings.TrimSpace(header[len(scheme):])), []byte(g.opts.AuthToken)) == 1 ||
		header == "" && g.cookieAuthorized(r) {
		return true
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="micro api"`)
	msg := "missing bearer token: send Authorization: Bearer TOKEN"
	if header != "" {
		msg = "wrong token in Authorization: send Authorization: Bearer TOKEN with the gateway's --auth-token"
	}
	g.writeError(w, r, errorf(codes.Unauthenticated, "%s", msg))
	return false
}

// applyCORS adds the CORS headers for an allowed origin and answers
// preflights; it returns false when the request has been answered.
func (g *Gateway) applyCORS(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	if origin == "" {
		if r.Method == http.MethodOptions {
			w.Header().Set("Allow", "GET, HEAD, POST, OPTIONS")
			w.WriteHeader(http.StatusNoContent)
			return false
		}
		return true
	}
	allowed := g.corsAny || g.cors[strings.ToLower(origin)]
	if !allowed {
		if preflight {
			// No CORS headers: the browser refuses the call.
			w.WriteHeader(http.StatusForbidden)
			return false
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead && !sameOrigin(origin, r.Host) {
			// A page of another site can POST a "simple" request
			// (text/plain, a form) without a preflight; the browser
			// would only hide the answer, after the call was made.
			g.writeError(w, r, &Error{Code: codes.PermissionDenied, HTTPStatus: http.StatusForbidden,
				Message: sprintf("cross-origin %s from %s refused: list the origin with --cors-origin to let its pages call services", r.Method, origin)})
			return false
		}
		return true
	}
	h := w.Header()
	h.Add("Vary", "Origin")
	h.Set("Access-Control-Allow-Origin", origin)
	h.Set("Access-Control-Allow-Credentials", "true")
	h.Set("Access-Control-Expose-Headers", "*, Grpc-Status, Grpc-Message, Grpc-Status-Details-Bin, Connect-Content-Encoding")
	if !preflight {
		return true
	}
	h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
	if want := r.Header.Get("Access-Control-Request-Headers"); want != "" {
		h.Set("Access-Control-Allow-Headers", want)
	}
	h.Set("Access-Control-Max-Age", "7200")
	w.WriteHeader(http.StatusNoContent)
	return false
}

// sameOrigin tells whether a browser's Origin header names the host the
// request was sent to (the console's own pages).
func sameOrigin(origin, host string) bool {
	u, err := url.Parse(origin)
	return err == nil && u.Host != "" && strings.EqualFold(u.Host, host)
}

// finish logs the request and counts it. The access log record goes
// straight to the logger's handler: Logger.LogAttrs would also walk the
// stack for the caller's position, which the access log does not show. A
// logger of NewAccessLog takes the record in its direct form.
func (g *Gateway) finish(r *http.Request, rec *recorder, info *requestInfo, start time.Time, took time.Duration) {
	if rec.status == 0 {
		rec.status = http.StatusOK
	}
	code := info.code
	if !info.codeSet {
		code = codeOfHTTP(rec.status)
	}
	if info.service != "" {
		g.metrics.observe(info, code, took)
	}
	if g.opts.Logger == nil {
		return
	}
	level := slog.LevelInfo
	if rec.status >= 500 {
		level = slog.LevelWarn
	}
	ctx := r.Context()
	handler := g.opts.Logger.Handler()
	if !handler.Enabled(ctx, level) {
		return
	}
	if h, ok := handler.(*accessLogHandler); ok {
		line := accessRecord{time: start.Add(took), level: level, method: r.Method, path: r.URL.Path, status: rec.status,
			protocol: info.protocol, took: took, bytes: rec.bytes, remote: r.RemoteAddr, err: info.err}
		if info.service != "" {
			line.service, line.endpoint, line.code = info.service, info.endpoint, code.String()
		}
		if done, _ := h.logRequest(&line); done {
			return
		}
	}
	record := slog.NewRecord(start.Add(took), level, "request", 0)
	record.AddAttrs(
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", rec.status),
		slog.String("protocol", info.protocol),
		slog.Duration("took", took),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", r.RemoteAddr),
	)
	if info.service != "" {
		record.AddAttrs(slog.String("service", info.service), slog.String("endpoint", info.endpoint), slog.String("code", code.String()))
	}
	if info.err != "" {
		record.AddAttrs(slog.String("error", info.err))
	}
	_ = handler.Handle(ctx, record)
}

// writeError answers err in the protocol of the request: Connect's JSON
// error on a Connect route, {code, status, message, details} otherwise.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, err error) {
	st := statusOf(err)
	httpStatus := httpStatusOf(err, st)
	info := infoOf(r.Context())
	info.setCode(st.Code(), st.Message())
	if info.protocol == protocolConnect {
		writeConnectError(w, httpStatus, st, g.resolverFor(info.service))
		return
	}
	writePlainError(w, httpStatus, st, g.resolverFor(info.service))
}
