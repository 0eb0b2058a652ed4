package natsconn

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// errCodeNoPeers is JetStream's "no suitable peers for placement": a
// replicated stream asked of a cluster whose members have not all reported
// in yet, as right after they start together.
const errCodeNoPeers jetstream.ErrorCode = 10005

// placementWait bounds how long WhilePlacing asks again: members that
// started together report in within a few seconds.
const placementWait = 15 * time.Second

// WhilePlacing runs create, and runs it again while it fails only because
// the cluster cannot place the replicas yet, until ctx is done or
// placementWait has passed. Any other error, or the last placement error,
// is returned as it is.
func WhilePlacing(ctx context.Context, create func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, placementWait)
	defer cancel()
	wait := 50 * time.Millisecond
	for {
		err := create(ctx)
		var apiErr *jetstream.APIError
		if err == nil || !errors.As(err, &apiErr) || apiErr.ErrorCode != errCodeNoPeers {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, time.Second)
	}
}
