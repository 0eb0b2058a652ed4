package rabbitmq

import (
	"fmt"
	"strings"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/microtools/micro/pkg/broker"
)

// maxShortString is AMQP's limit on routing keys, binding keys and queue
// names, in bytes.
const maxShortString = 255

// routingKey checks a topic to publish to: micro's rules (broker.
// ValidateTopic) and AMQP's length limit.
func routingKey(topic string) error {
	if err := broker.ValidateTopic(topic); err != nil {
		return err
	}
	if len(topic) > maxShortString {
		return fmt.Errorf("%w %q: %d bytes, AMQP routing keys have at most %d", broker.ErrInvalidTopic, topic[:32]+"…", len(topic), maxShortString)
	}
	return nil
}

// BindingKey is the AMQP binding key of a micro topic pattern: "*" stays
// "*" (one word) and ">" (one or more words at the end) becomes "*.#" (one
// word, then zero or more), so that "orders.>" matches "orders.created"
// but not "orders", as in NATS. A "#" word is refused: AMQP would read it
// as a wildcard where micro means the word "#".
func BindingKey(pattern string) (string, error) {
	if err := broker.ValidatePattern(pattern); err != nil {
		return "", err
	}
	words := strings.Split(pattern, ".")
	for i, w := range words {
		switch w {
		case "#":
			return "", fmt.Errorf("%w %q: the word \"#\" is a wildcard in AMQP; subscribe with \">\" (one or more words) or \"*\" (one word)", broker.ErrInvalidTopic, pattern)
		case ">":
			words[i] = "*.#"
		}
	}
	key := strings.Join(words, ".")
	if len(key) > maxShortString {
		return "", fmt.Errorf("%w %q: AMQP binding keys have at most %d bytes", broker.ErrInvalidTopic, pattern, maxShortString)
	}
	return key, nil
}

// QueueName is the AMQP queue of a queue group or durable subscription
// name for a topic: "name:topic", such as "billing:orders.created". The
// topic is part of it because a queue group shares the messages of one
// topic, as in NATS: a service subscribing to two topics under its name
// gets two queues, each handled by its own handler.
func QueueName(name, topic string) string { return name + ":" + topic }

// publishing makes the AMQP message of msg: the headers as AMQP headers
// (one value as a string, several as an array of strings), Content-Type
// also as the content-type property, persistent so that durable queues
// keep it across a broker restart.
func publishing(msg *broker.Message, now time.Time) amqp.Publishing {
	p := amqp.Publishing{
		DeliveryMode: amqp.Persistent,
		Timestamp:    now,
		Body:         msg.Body,
	}
	if len(msg.Header) > 0 {
		p.Headers = make(amqp.Table, len(msg.Header))
		for k, vs := range msg.Header {
			switch len(vs) {
			case 0:
			case 1:
				p.Headers[k] = vs[0]
			default:
				arr := make([]any, len(vs))
				for i, v := range vs {
					arr[i] = v
				}
				p.Headers[k] = arr
			}
		}
		p.ContentType = msg.Header.Get(broker.HeaderContentType)
	}
	return p
}

// message makes the broker message of a delivery. AMQP header values that
// are not strings (numbers, booleans, timestamps from other clients) are
// written as text; an array gives one value per element. A content-type
// property without a Content-Type header becomes the header.
func message(d *amqp.Delivery, now time.Time) *broker.Message {
	msg := &broker.Message{Body: d.Body, Topic: d.RoutingKey, ReceivedAt: now}
	if len(d.Headers) > 0 || d.ContentType != "" {
		msg.Header = make(broker.Header, len(d.Headers)+1)
	}
	for k, v := range d.Headers {
		if arr, ok := v.([]any); ok {
			for _, e := range arr {
				msg.Header.Add(k, headerText(e))
			}
			continue
		}
		msg.Header.Add(k, headerText(v))
	}
	if d.ContentType != "" && msg.Header.Get(broker.HeaderContentType) == "" {
		msg.Header.Set(broker.HeaderContentType, d.ContentType)
	}
	return msg
}

func headerText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case time.Time:
		return v.UTC().Format(time.RFC3339)
	case nil:
		return ""
	default:
		return fmt.Sprint(v)
	}
}
