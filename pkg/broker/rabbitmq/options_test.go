package rabbitmq_test

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"
	"time"

	"github.com/microtools/micro/pkg/broker/rabbitmq"
)

func TestOptions(t *testing.T) {
	cases := []struct {
		name string
		opts []rabbitmq.Option
		want string
	}{
		{"empty url", []rabbitmq.Option{rabbitmq.WithURL(" , ")}, "empty server url"},
		{"bad scheme", []rabbitmq.Option{rabbitmq.WithURL("nats://127.0.0.1:4222")}, "AMQP scheme"},
		{"password hidden in a bad url", []rabbitmq.Option{rabbitmq.WithURL("amqp://u:hunter2@[::1")}, "server url"},
		{"empty user", []rabbitmq.Option{rabbitmq.WithUserInfo("", "x")}, "empty user name"},
		{"reserved exchange", []rabbitmq.Option{rabbitmq.WithExchange("amq.topic")}, "reserved"},
		{"exchange with a space", []rabbitmq.Option{rabbitmq.WithExchange("a b")}, "invalid exchange name"},
		{"zero reconnect wait", []rabbitmq.Option{rabbitmq.WithReconnectWait(0)}, "reconnect wait must be positive"},
		{"zero prefetch", []rabbitmq.Option{rabbitmq.WithPrefetch(0)}, "prefetch must be at least 1"},
		{"tls on amqp://", []rabbitmq.Option{rabbitmq.WithURL("amqp://127.0.0.1:1/"), rabbitmq.WithTLS(&tls.Config{})}, "not an amqps:// url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			b, err := rabbitmq.New(ctx, c.opts...)
			if err == nil {
				_ = b.Close()
				t.Fatal("want an error")
			}
			if !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "hunter2") {
				t.Errorf("want %q (and no password), have %v", c.want, err)
			}
		})
	}
}
