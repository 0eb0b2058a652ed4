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

// HTTPHandler serves the MCP streamable HTTP transport at HTTPPath. With a
// non-empty authToken every request must carry "Authorization: Bearer
// <authToken>"; others are answered 401. Requests to a loopback address
// whose Host header names another host are refused (DNS rebinding), and so
// are cross-origin requests from browsers (a web page posting to a local
// server). Idle sessions end after HTTPSessionTimeout.
func (s *Server) HTTPHandler(authToken string) http.Handler {
	mcpHandler := sdk.NewStreamableHTTPHandler(func(*http.Request) *sdk.Server { return s.sdk }, &sdk.StreamableHTTPOptions{
		SessionTimeout: HTTPSessionTimeout,
	})
	mux := http.NewServeMux()
	mux.Handle(HTTPPath, http.NewCrossOriginProtection().Handler(mcpHandler))
	if authToken == "" {
		return mux
	}
	want := []byte("Bearer " + authToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(strings.TrimSpace(r.Header.Get("Authorization")))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="micro mcp"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		mux.ServeHTTP(w, r)
	})
}
