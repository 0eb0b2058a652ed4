// Command gwfloor is the reference of bench/api.sh: the least a JSON-to-gRPC
// gateway on micro's HTTP layer costs on this machine. It serves POST (any
// path) with a JSON greeter.v1.HelloRequest, calls greeter's Hello at
// -target through the generated grpc-go stub (one connection, no registry,
// no selector, no descriptors, no access log, no metrics) and answers the
// response as JSON. A request it cannot parse is answered 400 and a failed
// call 502, each with the error as text. It serves HTTP as micro api does:
// pkg/httpfast, with net/http for every connection the fast path does not
// take; -http net serves it all through net/http.
//
//	gwfloor -listen 127.0.0.1:8081 -target 127.0.0.1:9090 [-http fast|net]
//
// micro api does all that gwfloor skips; the ratio of the two, measured in
// the same run, is the part of the gateway's cost that is micro's own.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/pkg/httpfast"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:8081", "host:port to serve HTTP on")
	target := flag.String("target", "", "host:port of the greeter's gRPC server")
	server := flag.String("http", "fast", "HTTP server: fast (pkg/httpfast, as micro api serves) or net (net/http alone)")
	flag.Parse()
	if err := run(*listen, *target, *server); err != nil {
		fmt.Fprintln(os.Stderr, "gwfloor:", err)
		os.Exit(1)
	}
}

func run(listen, target, server string) error {
	if target == "" {
		return fmt.Errorf("want -target host:port")
	}
	if server != "fast" && server != "net" {
		return fmt.Errorf("-http %q: want fast or net", server)
	}
	conn, err := grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	return serve(ln, newHandler(greeterpb.NewGreeterClient(conn)), server)
}

// serve serves h on ln through pkg/httpfast with net/http behind it
// (server "fast"), or through net/http alone ("net").
func serve(ln net.Listener, h http.Handler, server string) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if server == "net" {
		return srv.Serve(ln)
	}
	fast := &httpfast.Server{Handler: h, Fallback: srv, ReadHeaderTimeout: srv.ReadHeaderTimeout}
	return fast.Serve(ln)
}

// newHandler answers every POST with greeter's Hello for its JSON body.
func newHandler(greeter greeterpb.GreeterClient) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var req greeterpb.HelloRequest
		if err := protojson.Unmarshal(body, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		resp, err := greeter.Hello(ctx, &req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		out, err := protojson.Marshal(resp)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(append(out, '\n'))
	})
}
