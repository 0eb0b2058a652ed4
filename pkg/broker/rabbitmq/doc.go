// Package rabbitmq is a broker.Broker on RabbitMQ (AMQP 0-9-1, with
// github.com/rabbitmq/amqp091-go), laid out as go-micro's RabbitMQ broker
// lays it out, so that go-micro services and plain AMQP clients
// interoperate:
//
//   - Publish sends to a durable topic exchange, "micro" by default
//     (WithExchange), with the topic as routing key, the headers as AMQP
//     headers (Content-Type among them, and also as the content-type
//     property), persistent.
//   - Subscribe binds a queue to the exchange with the topic as binding key;
//     micro's wildcards become AMQP's: "*" stays "*" and ">" becomes "*.#"
//     (one or more words; see BindingKey). Without options the queue is
//     exclusive and auto-delete; broker.Queue(name) shares the
//     auto-delete queue "name:topic" between every subscriber of the name;
//     broker.Durable(name) shares the durable queue "name:topic", which keeps
//     messages while no subscriber is there and across broker restarts (see
//     QueueName).
//   - Messages are acknowledged by hand after the handler returns; a
//     durable queue gets a failed message again.
//   - broker.Confirm waits for RabbitMQ's publisher confirm, and fails when
//     no queue is bound for the topic (broker.ErrNoStream).
//
// New connects to amqp://user:password@host:port/vhost (WithURL; several
// URLs separated by commas are tried in turn). An unreachable server fails
// New at once with an error that wraps broker.ErrUnreachable, refused
// credentials or virtual host one that wraps broker.ErrAuth:
//
//	rabbitmq broker: cannot reach rabbitmq at amqp://127.0.0.1:5672/: connection refused
//
// When the connection is lost the broker reconnects every ReconnectWait
// until it is closed, restores every subscription (a new exclusive queue,
// or the same shared or durable queue) and reports Disconnected and
// Reconnected to the WithEventHandler callback. Publish waits for the
// connection meanwhile, for as long as its context allows; a confirmed
// publish whose confirm was lost with the connection is sent again, so
// confirmed messages arrive at least once.
package rabbitmq
