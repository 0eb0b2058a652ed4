package httpfast

import (
	"bufio"
	"net"
	"sync"
)

// handoffListener is the Fallback's listener: it accepts the connections
// the fast path hands over.
type handoffListener struct {
	addr   net.Addr
	conns  chan net.Conn
	closed chan struct{}
	once   sync.Once
}

func newHandoffListener(addr net.Addr) *handoffListener {
	return &handoffListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

// give hands c to the Fallback; false when it has stopped (c is then the
// caller's to close).
func (l *handoffListener) give(c net.Conn) bool {
	select {
	case l.conns <- c:
		return true
	case <-l.closed:
		return false
	}
}

func (l *handoffListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *handoffListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *handoffListener) Addr() net.Addr { return l.addr }

// handoffConn is a connection with what the fast path had buffered of it
// read first.
type handoffConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *handoffConn) Read(p []byte) (int, error) {
	if c.r != nil {
		if c.r.Buffered() > 0 {
			return c.r.Read(p)
		}
		c.r.Reset(nil)
		readerPool.Put(c.r)
		c.r = nil
	}
	return c.Conn.Read(p)
}

// CloseWrite half-closes the connection as net/http does on a TCP
// connection before it closes one it answered with an error.
func (c *handoffConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}
