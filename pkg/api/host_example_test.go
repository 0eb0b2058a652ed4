package api_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"

	"github.com/microtools/micro/pkg/api"
)

// A gateway on loopback behind a proxy that passes the public name on:
// that name and the loopback ones are served, others refused.
func ExampleNewHostCheck() {
	listen := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080} // listener.Addr() in a program
	check, err := api.NewHostCheck(listen, []string{"api.example.com"})
	if err != nil {
		panic(err)
	}
	gateway := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "served") }) // an *api.Gateway
	handler := check.Handler(gateway)
	for _, host := range []string{"127.0.0.1:8080", "api.example.com", "evil.example:8080"} {
		req := httptest.NewRequest(http.MethodGet, "/healthz", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		handler.ServeHTTP(rec, req)
		fmt.Println(host, rec.Code)
	}
	// Output:
	// 127.0.0.1:8080 200
	// api.example.com 200
	// evil.example:8080 403
}
