package rabbitmq_test

import (
	"fmt"
	"os"
	"testing"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/brokertest"
	"github.com/microtools/micro/pkg/broker/rabbitmq"
)

// shared is the RabbitMQ node of the package's tests, or nil with the reason
// in sharedErr. Tests that restart the node start their own.
var (
	shared    *testenv.RabbitMQServer
	sharedErr error
)

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "micro-rabbitmq-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	shared, sharedErr = testenv.NewRabbitMQ(dir)
	if shared != nil {
		defer shared.Stop()
	}
	return m.Run()
}

// server returns the shared node, or skips (fails in CI) without one.
func server(t *testing.T) *testenv.RabbitMQServer {
	t.Helper()
	if sharedErr != nil {
		testenv.RabbitMQUnavailable(t, sharedErr)
	}
	return shared
}

// newBroker connects a broker to url and closes it when t ends.
func newBroker(t testing.TB, url string, opts ...rabbitmq.Option) *rabbitmq.Broker {
	t.Helper()
	b, err := rabbitmq.New(brokertest.Context(t), append([]rabbitmq.Option{rabbitmq.WithURL(url)}, opts...)...)
	if err != nil {
		t.Fatalf("new broker at %s: %v", url, err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func TestContract(t *testing.T) {
	srv := server(t)
	brokertest.Run(t, func(t *testing.T) broker.Broker { return newBroker(t, srv.URL()) })
}
