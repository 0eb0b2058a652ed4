package testenv

import (
	"context"
	"syscall"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Kill ends the member with SIGKILL, as a crash would, and waits for the
// process to go. Its data directory is kept: Start brings it back as the
// same member.
func (s *EtcdServer) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
	s.cmd = nil
}

// Leader is the member that leads the cluster now, asked of the members
// that answer; nil when none knows one.
func (c *EtcdCluster) Leader() *EtcdServer {
	for _, m := range c.Members {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		leader, ok := memberStatus(ctx, m)
		cancel()
		if !ok || leader == 0 {
			continue
		}
		for _, l := range c.Members {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			id, ok := memberID(ctx, l)
			cancel()
			if ok && id == leader {
				return l
			}
		}
	}
	return nil
}

// memberStatus asks m for the leader it knows.
func memberStatus(ctx context.Context, m *EtcdServer) (leader uint64, ok bool) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{m.Addr()}, DialTimeout: 2 * time.Second})
	if err != nil {
		return 0, false
	}
	defer c.Close()
	st, err := c.Status(ctx, m.Addr())
	if err != nil {
		return 0, false
	}
	return st.Leader, true
}

// memberID is m's member ID, as it reports it.
func memberID(ctx context.Context, m *EtcdServer) (uint64, bool) {
	c, err := clientv3.New(clientv3.Config{Endpoints: []string{m.Addr()}, DialTimeout: 2 * time.Second})
	if err != nil {
		return 0, false
	}
	defer c.Close()
	st, err := c.Status(ctx, m.Addr())
	if err != nil {
		return 0, false
	}
	return st.Header.MemberId, true
}
