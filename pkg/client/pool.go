package client

import (
	"context"
	"errors"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/microtools/micro/pkg/call"
	"github.com/microtools/micro/pkg/transport"
	grpctransport "github.com/microtools/micro/pkg/transport/grpc"
)

// pooledConn is one connection of the pool of gRPC nodes, dialled once
// through the gRPC transport. A connection that failed leaves the pool and
// is closed once no attempt uses it.
type pooledConn struct {
	address    string
	ready      chan struct{} // closed once the dial has ended
	conn       *grpc.ClientConn
	err        error
	reflection *call.ReflectionSource
	closeOnce  sync.Once
	// dialled is how long the dial took.
	dialled time.Duration

	// Guarded by Client.mu.
	// ahead: dialled by Prepare, before the registry named the node;
	// no call has used it yet.
	ahead   bool
	users   int  // attempts using it
	dropped bool // out of the pool
}

// close closes the connection and its reflection client.
func (pc *pooledConn) close() error {
	var err error
	pc.closeOnce.Do(func() {
		<-pc.ready
		if pc.conn != nil {
			_ = pc.reflection.Close()
			err = pc.conn.Close()
		}
	})
	return err
}

// conn returns the pool's connection to address, dialling it once, for an
// attempt to use until it calls release.
func (c *Client) conn(ctx context.Context, address string) (pc *pooledConn, reused bool, err error) {
	pc, reused, _, err = c.connAhead(ctx, address)
	return pc, reused, err
}

// connAhead is conn, and tells whether the connection was opened ahead
// of the call (Prepare).
func (c *Client) connAhead(ctx context.Context, address string) (pc *pooledConn, reused, openedAhead bool, err error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, false, errors.New("client: closed")
	}
	pc, found := c.conns[address]
	if !found {
		pc = &pooledConn{address: address, ready: make(chan struct{})}
		c.conns[address] = pc
	}
	ahead := pc.ahead
	pc.ahead = false
	pc.users++
	c.mu.Unlock()

	if !found {
		c.dialInto(ctx, pc)
	} else {
		select {
		case <-pc.ready:
		case <-ctx.Done():
			c.release(pc)
			return nil, false, false, &transport.ConnectError{Transport: transport.NameGRPC, Address: address, Err: ctx.Err()}
		}
	}
	if pc.err != nil && ahead {
		// Dialled before the registry named the node, which may have
		// come up since: dial it now.
		c.dropConn(pc)
		c.release(pc)
		return c.connAhead(ctx, address)
	}
	if pc.err != nil {
		// The next call dials again.
		c.dropConn(pc)
		c.release(pc)
		return nil, false, false, pc.err
	}
	return pc, found && !ahead, ahead, nil
}

// dialInto dials pc's address and tells pc.ready when done.
func (c *Client) dialInto(ctx context.Context, pc *pooledConn) {
	start := time.Now()
	pc.conn, pc.err = grpctransport.Dial(ctx, pc.address, c.dial)
	if pc.err == nil {
		pc.reflection = call.NewReflectionSource(pc.conn, call.WithReflectionHeaders(c.opts.ReflectionHeaders))
	}
	pc.dialled = time.Since(start)
	close(pc.ready)
}

// release ends an attempt's use of pc; a dropped connection is closed once
// no attempt uses it.
func (c *Client) release(pc *pooledConn) {
	c.mu.Lock()
	pc.users--
	closeNow := pc.dropped && pc.users == 0 && c.dropped[pc]
	if closeNow {
		delete(c.dropped, pc)
	}
	c.mu.Unlock()
	if closeNow {
		_ = pc.close()
	}
}

// dropConn takes pc out of the pool after it failed to reach the node, so
// that the next call to the node dials afresh (and reports the real cause
// if it fails again). It is closed once no attempt uses it.
func (c *Client) dropConn(pc *pooledConn) {
	c.mu.Lock()
	if c.conns[pc.address] == pc {
		delete(c.conns, pc.address)
	}
	if pc.dropped || c.closed {
		c.mu.Unlock()
		return
	}
	pc.dropped = true
	closeNow := pc.users == 0
	if !closeNow {
		c.dropped[pc] = true
	}
	c.mu.Unlock()
	if closeNow {
		_ = pc.close()
	}
}

// takeConnsLocked empties the pool for Close and returns what it held:
// the gRPC connections, in the pool or dropped and still in use, and the
// mucp ones.
func (c *Client) takeConnsLocked() (grpcConns []*pooledConn, mucpConns []transport.Conn) {
	for _, pc := range c.conns {
		grpcConns = append(grpcConns, pc)
	}
	for pc := range c.dropped {
		grpcConns = append(grpcConns, pc)
	}
	for _, conn := range c.mucpConns {
		mucpConns = append(mucpConns, conn)
	}
	c.conns, c.dropped, c.mucpConns = map[string]*pooledConn{}, map[*pooledConn]bool{}, map[string]transport.Conn{}
	return grpcConns, mucpConns
}
