package nats_test

import (
	"testing"

	natsgo "github.com/nats-io/nats.go"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
)

// benchBody is a small JSON event, the typical payload.
var benchBody = []byte(`{"name":"Ada","at":"2025-01-01T00:00:00Z"}`)

// BenchmarkPublish is micro's publish path: topic validation, the message
// handed to nats.go with a Content-Type header. Nobody subscribes, so the
// server's share of the two cores stays small and the same for both
// benchmarks; run both in one go and compare:
//
//	go test -run '^$' -bench 'BenchmarkPublish' -count 10 ./pkg/broker/nats
func BenchmarkPublish(b *testing.B) {
	srv := testenv.NATS(b)
	br := newBroker(b, srv.URL())
	topic := "bench.publish"
	ctx := brokertest.Context(b)
	msg := &broker.Message{Header: broker.Header{broker.HeaderContentType: {"application/json"}}, Body: benchBody}
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if err := br.Publish(ctx, topic, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := br.Conn().Flush(); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkPublishBare is the same message published with nats.go alone:
// the bound BenchmarkPublish is measured against.
func BenchmarkPublishBare(b *testing.B) {
	srv := testenv.NATS(b)
	nc := bareConn(b, srv.URL())
	topic := "bench.publish"
	m := &natsgo.Msg{Subject: topic, Header: natsgo.Header{"Content-Type": {"application/json"}}, Data: benchBody}
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if err := nc.PublishMsg(m); err != nil {
			b.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.Fatal(err)
	}
}
