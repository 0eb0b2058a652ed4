package mcp

import (
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

// HTTPPath is where HTTPHandler serves the streamable HTTP transport.
const HTTPPath = "/mcp"

// HTTPSessionTimeout closes HTTP sessions that sent nothing for this long.
const HTTPSessionTimeout = 30 * time.Minute

// HTTPOption changes what HTTPHandler serves.
type HTTPOption func(*httpSettings)

type httpSettings struct {
	hostGuard func(http.Handler) http.Handler
}

// WithHostGuard puts guard in front of the handler, before the token, in
// place of the SDK's own DNS rebinding check (which serves requests that
// came in over loopback only when their Host is a loopback name): micro
// mcp serve passes api.HostCheck's Handler, which also serves the
// --allowed-host names.
func WithHostGuard(guard func(http.Handler) http.Handler) HTTPOption {
	return func(s *httpSettings) { s.hostGuard = guard }
}

// HTTPHandler serves the MCP streamable HTTP transport at HTTPPath. With a
// non-empty authToken every request must carry "Authorization: Bearer
// <authToken>"; others are answered 401. Requests to a loopback address
// whose Host header names another host are refused (DNS rebinding; see
// WithHostGuard), and so are cross-origin requests from browsers (a web
// page posting to a local server). Idle sessions end after
// HTTPSessionTimeout.
func (s *Server) HTTPHandler(authToken string, opts ...HTTPOption) http.Handler {
	var settings httpSettings
	for _, opt := range opts {
		opt(&settings)
	}
	guarded := settings.hostGuard
	if guarded == nil {
		guarded = func(h http.Handler) http.Handler { return h }
	}
	mcpHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.sdk }, &sdk.StreamableHTTPOptions{
		SessionTimeout:             HTTPSessionTimeout,
		DisableLocalhostProtection: settings.hostGuard != nil, // the guard checks instead
	})
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, http.NewCrossOriginProtection().Handler(mcpHandler))
	if authToken == "" {
		return guarded(mux)
	}
	want := []byte("Bearer " + authToken)
	return guarded(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="micro mcp"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	}))
}
