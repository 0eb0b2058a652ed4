package broker_test

import (
	"context"
	"fmt"

	"github.com/microtools/micro/pkg/broker"
	"github.com/microtools/micro/pkg/broker/memory"
	"github.com/microtools/micro/pkg/codec"
)

func Example() {
	ctx := context.Background()
	b := memory.New() // or nats.New(ctx, nats.WithURL(...)): the same interface
	defer b.Close()

	handled := make(chan string)
	sub, err := b.Subscribe(ctx, "orders.*", broker.HandlerFunc(func(ctx context.Context, msg *broker.Message) error {
		handled <- fmt.Sprintf("%s %s %s", msg.Topic, msg.ContentType(), msg.Body)
		return nil
	}), broker.Queue("billing"))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer sub.Unsubscribe()

	msg, err := broker.Encode(codec.JSON{}, map[string]int{"id": 7})
	if err != nil {
		fmt.Println(err)
		return
	}
	if err := b.Publish(ctx, "orders.created", msg); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(<-handled)

	err = b.Publish(ctx, "orders.*", msg)
	fmt.Println(err)
	// Output:
	// orders.created application/json {"id":7}
	// memory broker: publish: invalid topic "orders.*": wildcard '*' at byte 7: wildcards are only for subscribing
}
