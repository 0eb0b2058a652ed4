package api

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/microtools/micro/pkg/api/ui"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/call"
)

// ConsolePath is where MountConsole serves the web console.
const ConsolePath = "/ui/"

// consoleCSP is the Content-Security-Policy of every response under /ui/:
// scripts, styles and connections only from the gateway itself, no inline
// script or style, no plugins, no framing.
const consoleCSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// consoleCookie carries the --auth-token for the console's browser, which
// cannot add an Authorization header to a page load or an EventSource.
const consoleCookie = "micro-api-token"

// Defaults of ConsoleOptions.
const (
	DefaultBenchConcurrency = 16
	DefaultBenchDuration    = 30 * time.Second
	DefaultConsoleSessions  = 32
)

// ConsoleOptions configure the web console.
type ConsoleOptions struct {
	// Broker is what the topics page publishes to and subscribes on; nil
	// turns the topics page off.
	Broker broker.Broker
	// BrokerName describes the broker on the console ("nats at ...").
	BrokerName string
	// MaxBenchConcurrency caps the concurrency of a load run from the
	// console. Zero: DefaultBenchConcurrency.
	MaxBenchConcurrency int
	// MaxBenchDuration caps how long a load run lasts. Zero:
	// DefaultBenchDuration.
	MaxBenchDuration time.Duration
	// MaxSessions caps the client and bidi streams open at once. Zero:
	// DefaultConsoleSessions.
	MaxSessions int
	// Version is shown in the console's header.
	Version string
}

// StreamInvoker is implemented by a Client that can call a method with
// requests given one at a time (client and bidirectional streams) and say
// which node answered. The console uses it when the Client has it; without
// it the console calls through Invoke, shows no node and cannot open
// client or bidi streams.
type StreamInvoker interface {
	// InvokeStream calls method of service with the requests of
	// requests, tells handler what comes back as Invoke does, and tells
	// node the address of each node tried (the last one answered).
	InvokeStream(ctx context.Context, service string, method protoreflect.MethodDescriptor, requests call.RequestSupplier, md metadata.MD, handler ResponseHandler, node func(address string)) error
}

// HealthChecker is implemented by a Client that can ask a node for its
// grpc.health.v1 status; the console's "check health" uses it.
type HealthChecker interface {
	// CheckHealth asks the node at address for the health of the server
	// ("" service) and returns the status name (SERVING, NOT_SERVING,
	// ...) or an error.
	CheckHealth(ctx context.Context, address string) (string, error)
}

// console serves /ui/: the embedded files, and the JSON endpoints under
// /ui/api/ that the gateway's own routes do not offer.
type console struct {
	g     *Gateway
	opts  ConsoleOptions
	files fs.FS

	bench chan struct{} // one load run at a time

	mu       sync.Mutex
	sessions map[string]*session
}

// MountConsole serves the web console at /ui/ (see docs/console.md), with
// the gateway's authentication, CORS and access log. Call it before the
// gateway serves requests.
func (g *Gateway) MountConsole(opts ConsoleOptions) error {
	if g.console != nil {
		return errors.New("api: the console is mounted already")
	}
	if opts.MaxBenchConcurrency <= 0 {
		opts.MaxBenchConcurrency = DefaultBenchConcurrency
	}
	if opts.MaxBenchDuration <= 0 {
		opts.MaxBenchDuration = DefaultBenchDuration
	}
	if opts.MaxSessions <= 0 {
		opts.MaxSessions = DefaultConsoleSessions
	}
	c := &console{g: g, opts: opts, files: ui.Files(), bench: make(chan struct{}, 1), sessions: map[string]*session{}}
	g.console = c
	g.routes = append(g.routes, prefixRoute{prefix: ConsolePath, handler: c})
	return nil
}

// setSecurityHeaders adds the console's strict headers to every answer
// under /ui/.
func setSecurityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", consoleCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
}

// servePublic serves what the console needs before it has the token: its
// own files (which hold no data from the registry or the broker) and
// POST /ui/login. It returns false for anything else.
func (g *Gateway) servePublic(w http.ResponseWriter, r *http.Request) bool {
	c := g.console
	if c == nil || !strings.HasPrefix(r.URL.Path, ConsolePath) && r.URL.Path != strings.TrimSuffix(ConsolePath, "/") {
		return false
	}
	rest := strings.TrimPrefix(r.URL.Path, ConsolePath)
	if strings.HasPrefix(rest, "api/") {
		return false
	}
	setSecurityHeaders(w.Header())
	infoOf(r.Context()).protocol = "console"
	if rest == "login" {
		c.serveLogin(w, r)
		return true
	}
	c.serveFile(w, r)
	return true
}

// cookieAuthorized tells whether the request carries the token in the
// console's cookie.
func (g *Gateway) cookieAuthorized(r *http.Request) bool {
	if g.console == nil || g.opts.AuthToken == "" {
		return false
	}
	cookie, err := r.Cookie(consoleCookie)
	return err == nil && subtle.ConstantTimeCompare([]byte(cookie.Value), []byte(g.opts.AuthToken)) == 1
}

// serveLogin takes the token from the console's login form (JSON
// {"token": ...}) and sets it as an HttpOnly, SameSite=Strict cookie.
func (c *console) serveLogin(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		c.g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: "POST the token as {\"token\": ...}", HTTPStatus: http.StatusMethodNotAllowed})
		return
	}
	if !jsonRequest(r) {
		c.g.writeError(w, r, notJSON(r))
		return
	}
	var in struct {
		Token string `json:"token"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4096)).Decode(&in); err != nil {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "login: want {\"token\": \"...\"}: %v", err))
		return
	}
	if c.g.opts.AuthToken == "" {
		writeJSON(w, http.StatusOK, map[string]bool{"auth": false})
		return
	}
	if subtle.ConstantTimeCompare([]byte(in.Token), []byte(c.g.opts.AuthToken)) != 1 {
		c.g.writeError(w, r, errorf(codes.Unauthenticated, "wrong token: give the gateway's --auth-token"))
		return
	}
	http.SetCookie(w, &http.Cookie{Name: consoleCookie, Value: in.Token, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
	writeJSON(w, http.StatusOK, map[string]bool{"auth": true})
}

// serveFile serves an embedded file; /ui/ is index.html.
func (c *console) serveFile(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		c.g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: "the console's files are read with GET", HTTPStatus: http.StatusMethodNotAllowed})
		return
	}
	if r.URL.Path == strings.TrimSuffix(ConsolePath, "/") {
		http.Redirect(w, r, ConsolePath, http.StatusMovedPermanently)
		return
	}
	name := path.Clean(strings.TrimPrefix(r.URL.Path, ConsolePath))
	if name == "." || name == "" {
		name = "index.html"
	}
	data, err := fs.ReadFile(c.files, name)
	if err != nil {
		c.g.writeError(w, r, errorf(codes.NotFound, "the console has no file %q", name))
		return
	}
	h := w.Header()
	switch path.Ext(name) {
	case ".html":
		h.Set("Content-Type", "text/html; charset=utf-8")
	case ".js":
		h.Set("Content-Type", "text/javascript; charset=utf-8")
	case ".css":
		h.Set("Content-Type", "text/css; charset=utf-8")
	case ".svg":
		h.Set("Content-Type", "image/svg+xml")
	default:
		h.Set("Content-Type", http.DetectContentType(data))
	}
	h.Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodGet {
		_, _ = w.Write(data)
	}
}

// ServeHTTP serves /ui/api/... (the authenticated part of the console).
func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	setSecurityHeaders(w.Header())
	info := infoOf(r.Context())
	info.protocol = "console"
	rest := strings.TrimPrefix(r.URL.Path, ConsolePath+"api/")
	if rest == r.URL.Path {
		// Not under /ui/api/: the files, when no token is asked for.
		c.serveFile(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !jsonRequest(r) {
		c.g.writeError(w, r, notJSON(r))
		return
	}
	parts := strings.Split(rest, "/")
	route := r.Method + " " + parts[0]
	switch {
	case route == "GET config":
		c.serveConfig(w, r)
	case route == "GET describe" && len(parts) == 2 && parts[1] != "":
		c.serveDescribe(w, r, parts[1])
	case route == "GET protoset" && len(parts) == 2 && parts[1] != "":
		c.serveProtoset(w, r, parts[1])
	case route == "POST call":
		c.serveCall(w, r)
	case route == "POST health" && len(parts) == 2 && parts[1] != "":
		c.serveHealth(w, r, parts[1])
	case route == "POST sessions" && len(parts) == 1:
		c.openSession(w, r)
	case parts[0] == "sessions" && len(parts) >= 2:
		c.serveSession(w, r, parts[1:])
	case route == "GET subscribe":
		c.serveSubscribe(w, r)
	case route == "POST publish":
		c.servePublish(w, r)
	case route == "POST bench":
		c.serveBench(w, r)
	default:
		c.g.writeError(w, r, errorf(codes.NotFound, "no console endpoint %s %s; see docs/console.md", r.Method, r.URL.Path))
	}
}

// ConsoleConfig is the body of GET /ui/api/config: what the console shows
// in its header and which pages it can offer.
type ConsoleConfig struct {
	Registry string `json:"registry"`
	Broker   string `json:"broker,omitempty"`
	Topics   bool   `json:"topics"`
	Streams  bool   `json:"streams"`
	Health   bool   `json:"health"`
	Version  string `json:"version,omitempty"`
	// Headers is the allow list of request headers passed to services.
	Headers []string `json:"headers"`
	// Auth tells whether the gateway asks for a token.
	Auth             bool  `json:"auth"`
	MaxConcurrency   int   `json:"maxConcurrency"`
	MaxBenchMillis   int64 `json:"maxBenchMillis"`
	TimeoutMillis    int64 `json:"timeoutMillis"`
	MaxBodyBytes     int64 `json:"maxBodyBytes"`
	RequestHeaderCap int   `json:"-"`
}

func (c *console) serveConfig(w http.ResponseWriter, r *http.Request) {
	_, streams := c.g.opts.Client.(StreamInvoker)
	_, health := c.g.opts.Client.(HealthChecker)
	writeJSON(w, http.StatusOK, ConsoleConfig{
		Registry:       stringOf(c.g.opts.Registry),
		Broker:         c.opts.BrokerName,
		Topics:         c.opts.Broker != nil,
		Streams:        streams,
		Health:         health,
		Version:        c.opts.Version,
		Headers:        c.g.opts.Headers,
		Auth:           c.g.opts.AuthToken != "",
		MaxConcurrency: c.opts.MaxBenchConcurrency,
		MaxBenchMillis: c.opts.MaxBenchDuration.Milliseconds(),
		TimeoutMillis:  c.g.opts.Timeout.Milliseconds(),
		MaxBodyBytes:   c.g.opts.MaxBodyBytes,
	})
}

func stringOf(v any) string {
	if s, ok := v.(interface{ String() string }); ok {
		return s.String()
	}
	return ""
}

// NodeHealthResult is one node in the answer of POST /ui/api/health/{service}.
type NodeHealthResult struct {
	ID      string `json:"id"`
	Address string `json:"address"`
	Version string `json:"version"`
	Status  string `json:"status"`
	Error   string `json:"error,omitempty"`
}

// serveHealth asks every node of service for its grpc.health.v1 status.
func (c *console) serveHealth(w http.ResponseWriter, r *http.Request, service string) {
	checker, ok := c.g.opts.Client.(HealthChecker)
	if !ok {
		c.g.writeError(w, r, errorf(codes.Unimplemented, "this gateway's client cannot check health"))
		return
	}
	records, err := c.g.services.records(r.Context(), service)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	var results []NodeHealthResult
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, rec := range records {
		for _, n := range rec.Nodes {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := NodeHealthResult{ID: n.ID, Address: n.Address, Version: rec.Version}
				if n.Metadata["protocol"] == "mucp" {
					res.Status, res.Error = "UNIMPLEMENTED", "a mucp node has no grpc.health.v1"
				} else if st, err := checker.CheckHealth(ctx, n.Address); err != nil {
					res.Status, res.Error = "UNREACHABLE", err.Error()
					if st != "" {
						res.Status = st
					}
				} else {
					res.Status = st
				}
				mu.Lock()
				results = append(results, res)
				mu.Unlock()
			}()
		}
	}
	wg.Wait()
	sortBy(results, func(a NodeHealthResult) string { return a.ID })
	writeJSON(w, http.StatusOK, map[string]any{"service": service, "nodes": results})
}

// consoleCall is the body of POST /ui/api/call and POST /ui/api/sessions.
type consoleCall struct {
	Service  string            `json:"service"`
	Endpoint string            `json:"endpoint"`
	Request  json.RawMessage   `json:"request"`
	Metadata map[string]string `json:"metadata"`
	// TimeoutMillis bounds the call; zero: the gateway's timeout.
	TimeoutMillis int64 `json:"timeoutMs"`
}

// metadataOf passes the console's metadata through the gateway's allow
// list, as the same headers on a plain route would be.
func (c *console) metadataOf(in map[string]string) metadata.MD {
	h := http.Header{}
	for k, v := range in {
		if k = strings.TrimSpace(k); k != "" {
			h.Add(k, v)
		}
	}
	return c.g.requestMetadata(h)
}

// readCall decodes a console call and resolves its method.
func (c *console) readCall(w http.ResponseWriter, r *http.Request) (consoleCall, target, error) {
	var in consoleCall
	body, err := c.g.readBody(w, r, "")
	if err != nil {
		return in, target{}, err
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return in, target{}, errorf(codes.InvalidArgument, "console call: want {\"service\", \"endpoint\", \"request\", \"metadata\"}: %v", err)
	}
	if in.Service == "" || in.Endpoint == "" {
		return in, target{}, errorf(codes.InvalidArgument, "console call: name the service and the endpoint")
	}
	info := infoOf(r.Context())
	t, err := c.g.resolvePlain(r.Context(), in.Service, in.Endpoint)
	if err != nil {
		return in, target{}, err
	}
	info.service, info.endpoint = in.Service, in.Endpoint
	return in, t, nil
}

// callTimeout is the time limit of a console call.
func (c *console) callTimeout(ms int64, fallback time.Duration) time.Duration {
	timeout := fallback
	if ms > 0 {
		timeout = time.Duration(ms) * time.Millisecond
	}
	if c.g.opts.MaxTimeout > 0 && timeout > c.g.opts.MaxTimeout {
		timeout = c.g.opts.MaxTimeout
	}
	return timeout
}

// consoleEvent is one line of a call's event stream.
type consoleEvent struct {
	Event    string            `json:"event"`
	Address  string            `json:"address,omitempty"`
	Metadata map[string]string `json:"metadata,omitempty"`
	Message  json.RawMessage   `json:"message,omitempty"`
	Sequence int               `json:"sequence,omitempty"`
	Millis   float64           `json:"ms"`
	// end
	Code    *int              `json:"code,omitempty"`
	Status  string            `json:"status,omitempty"`
	Error   string            `json:"error,omitempty"`
	Details []json.RawMessage `json:"details,omitempty"`
}

// metadataJSON flattens md for the console (several values joined by ", ",
// binary values in base64).
func metadataJSON(md metadata.MD) map[string]string {
	out := map[string]string{}
	for k, vs := range md {
		for i, v := range vs {
			if strings.HasSuffix(k, "-bin") {
				vs[i] = encodeBase64(v)
			}
		}
		out[k] = strings.Join(vs, ", ")
	}
	return out
}

// runCall calls t and tells emit each event: the node, headers, each
// response, trailers and the end with the status and the latency.
func (c *console) runCall(ctx context.Context, t target, requests call.RequestSupplier, single proto.Message, md metadata.MD, emit func(consoleEvent)) {
	start := time.Now()
	since := func() float64 { return float64(time.Since(start).Microseconds()) / 1000 }
	format := c.g.jsonFormatter(t.service)
	seq := 0
	handler := ResponseHandler{
		Header: func(m metadata.MD) {
			emit(consoleEvent{Event: "header", Metadata: metadataJSON(m.Copy()), Millis: since()})
		},
		Trailer: func(m metadata.MD) {
			emit(consoleEvent{Event: "trailer", Metadata: metadataJSON(m.Copy()), Millis: since()})
		},
		Message: func(msg proto.Message) error {
			data, err := format(msg)
			if err != nil {
				return err
			}
			seq++
			emit(consoleEvent{Event: "message", Message: data, Sequence: seq, Millis: since()})
			return nil
		},
	}
	var err error
	if si, ok := c.g.opts.Client.(StreamInvoker); ok {
		if requests == nil {
			requests = call.Messages(single)
		}
		last := ""
		err = si.InvokeStream(ctx, t.service, t.method, requests, md, handler, func(address string) {
			if address != last {
				last = address
				emit(consoleEvent{Event: "node", Address: address, Millis: since()})
			}
		})
	} else if single != nil {
		err = c.g.invoke(ctx, t, single, md, handler)
	} else {
		err = unsupportedStreaming(t)
	}
	st := statusOf(err)
	code := int(st.Code())
	end := consoleEvent{Event: "end", Code: &code, Status: strings.ToUpper(ConnectCode(st.Code())), Millis: since()}
	if err != nil {
		end.Error = st.Message()
		end.Details = detailsJSON(st, c.g.resolverFor(t.service))
	}
	infoOf(ctx).setCode(st.Code(), end.Error)
	emit(end)
}

// serveCall calls a unary or server-streaming method and streams the events
// as NDJSON: node, header, message (each response as it arrives), trailer
// and end ({code, status, error, details, ms}).
func (c *console) serveCall(w http.ResponseWriter, r *http.Request) {
	in, t, err := c.readCall(w, r)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	if t.method == nil {
		c.serveEndpointCall(w, r, in, t)
		return
	}
	if t.method.IsStreamingClient() {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "%s streams requests: open a session (POST /ui/api/sessions)", t.method.FullName()))
		return
	}
	req, err := c.g.parseJSONRequest(t, in.Request)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), c.callTimeout(in.TimeoutMillis, c.g.opts.Timeout))
	defer cancel()
	stream := newNDJSON(w)
	c.runCall(ctx, t, nil, req, c.metadataOf(in.Metadata), func(ev consoleEvent) { stream.write(ev) })
}

// serveEndpointCall calls an endpoint known only from its registry record
// (mucp), in the console's event form.
func (c *console) serveEndpointCall(w http.ResponseWriter, r *http.Request, in consoleCall, t target) {
	caller := c.g.opts.Client.(EndpointCaller) // checked by resolvePlain
	ctx, cancel := context.WithTimeout(r.Context(), c.callTimeout(in.TimeoutMillis, c.g.opts.Timeout))
	defer cancel()
	body := []byte(in.Request)
	if len(body) == 0 || string(body) == "null" {
		body = []byte("{}")
	}
	stream := newNDJSON(w)
	start := time.Now()
	out, header, err := caller.CallEndpoint(ctx, t.service, t.endpoint, body, c.metadataOf(in.Metadata))
	ms := float64(time.Since(start).Microseconds()) / 1000
	if header != nil {
		stream.write(consoleEvent{Event: "header", Metadata: metadataJSON(header), Millis: ms})
	}
	if err == nil {
		stream.write(consoleEvent{Event: "message", Message: json.RawMessage(out), Sequence: 1, Millis: ms})
	}
	st := statusOf(err)
	code := int(st.Code())
	end := consoleEvent{Event: "end", Code: &code, Status: strings.ToUpper(ConnectCode(st.Code())), Millis: ms}
	if err != nil {
		end.Error = st.Message()
	}
	stream.write(end)
}

// ndjson writes one JSON value a line, flushed as it goes.
type ndjson struct {
	mu      sync.Mutex
	w       http.ResponseWriter
	flusher *http.ResponseController
	started bool
}

func newNDJSON(w http.ResponseWriter) *ndjson {
	return &ndjson{w: w, flusher: http.NewResponseController(w)}
}

func (n *ndjson) write(v any) {
	data, err := json.Marshal(v)
	if err != nil {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.started {
		n.started = true
		n.w.Header().Set("Content-Type", "application/x-ndjson")
		n.w.Header().Set("Cache-Control", "no-cache")
		n.w.Header().Set("X-Accel-Buffering", "no")
		n.w.WriteHeader(http.StatusOK)
	}
	_, _ = n.w.Write(append(data, '\n'))
	_ = n.flusher.Flush()
}

// jsonRequest tells whether r says its body is JSON. The console's
// endpoints that change something take nothing else: a page on another
// site cannot send application/json without a CORS preflight, which the
// gateway refuses to origins not listed, so it cannot post to them
// (cross-site request forgery), with or without the token cookie.
func jsonRequest(r *http.Request) bool {
	return r.Method == http.MethodDelete || mediaType(r.Header.Get("Content-Type")) == "application/json"
}

func notJSON(r *http.Request) error {
	return &Error{Code: codes.InvalidArgument, HTTPStatus: http.StatusUnsupportedMediaType,
		Message: sprintf("%s %s: send the body as Content-Type: application/json", r.Method, r.URL.Path)}
}
