// Package api is micro's HTTP gateway: every service in the registry over
// HTTP, with no generated code and no per-service configuration.
//
// A Gateway is an http.Handler. It speaks
//
//   - go-micro's routes: POST /{service}/{Service.Method} and
//     POST /{service}/{Service}/{Method}, JSON in and out; server streams as
//     NDJSON, or Server-Sent Events on Accept: text/event-stream;
//   - the Connect protocol: POST /{package.Service}/{Method}, unary with
//     application/json or application/proto, server streaming with
//     application/connect+json or application/connect+proto;
//   - gRPC-Web: application/grpc-web(+proto|+json) and
//     application/grpc-web-text, unary and server streaming;
//
// and serves GET / (services, nodes and endpoint schemas), GET /{service},
// GET /openapi.json (OpenAPI 3.1), GET /events (registry events as
// Server-Sent Events), GET /healthz and GET /metrics (Prometheus).
//
// The gateway calls services through a Client, a small interface defined
// here: describe a service, find a method, invoke it. The micro command
// adapts its call client to it; a program that embeds the gateway can adapt
// its own. Only services found in the registry are reachable: a request
// never names an address.
//
// A HostCheck (Options.Hosts) refuses requests whose Host header names
// another host than the loopback ones and those allowed, when the gateway
// listens on loopback (DNS rebinding: NewHostCheck); refused requests are
// logged and counted as any other.
package api
