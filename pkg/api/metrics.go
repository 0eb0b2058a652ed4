package api

import (
	"fmt"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc/codes"
)

// metrics are the gateway's Prometheus metrics. Labels come from the
// registry, never from the raw request: a call to an unknown service is
// not counted by name.
type metrics struct {
	requests *prometheus.CounterVec
	errors   *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	handler  http.Handler
}

func newMetrics(reg *prometheus.Registry, own bool) (*metrics, error) {
	labels := []string{"service", "endpoint", "protocol", "code"}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "micro", Subsystem: "api", Name: "requests_total",
			Help: "Calls through the gateway, by service, endpoint, protocol and gRPC code.",
		}, labels),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "micro", Subsystem: "api", Name: "errors_total",
			Help: "Calls through the gateway that ended with a code other than OK.",
		}, labels),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "micro", Subsystem: "api", Name: "request_duration_seconds",
			Help:    "Time from a call's request to the end of its response, by service, endpoint, protocol and gRPC code.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, labels),
	}
	cs := []prometheus.Collector{m.requests, m.errors, m.latency}
	if own {
		cs = append(cs, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("api: register metrics: %w", err)
		}
	}
	m.handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	return m, nil
}

func (m *metrics) observe(info *requestInfo, code codes.Code, took time.Duration) {
	values := []string{info.service, info.endpoint, info.protocol, code.String()}
	m.requests.WithLabelValues(values...).Inc()
	if code != codes.OK {
		m.errors.WithLabelValues(values...).Inc()
	}
	m.latency.WithLabelValues(values...).Observe(took.Seconds())
}
