package testenv

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestRabbitMQ starts a node, checks that every port it listens on is on
// 127.0.0.1, restarts it with a durable queue that must survive, and checks
// that Stop leaves no listener behind, its port mapper included.
func TestRabbitMQ(t *testing.T) {
	start := time.Now()
	srv := RabbitMQ(t)
	t.Logf("rabbitmq node up on %s in %s", srv.Addr(), time.Since(start).Round(time.Millisecond))

	conn := srv.Dial(t)
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclare("testenv-durable", true, false, false, false, nil); err != nil {
		t.Fatal(err)
	}
	_ = conn.Close()

	srv.mu.Lock()
	ports := []int{srv.amqpPort, srv.distPort, srv.epmdPort}
	srv.mu.Unlock()
	for _, l := range listeners(t, ports) {
		if l != "0100007F" && l != "00000000000000000000000001000000" {
			t.Errorf("a port of the node listens on %s (hex, as /proc/net shows it), want 127.0.0.1 or ::1 only", l)
		}
	}
	if got := len(listeners(t, ports)); got < len(ports) {
		t.Errorf("want listeners on all %d ports %v, /proc/net shows %d", len(ports), ports, got)
	}

	start = time.Now()
	srv.Restart(t)
	t.Logf("restarted in %s", time.Since(start).Round(time.Millisecond))
	conn = srv.Dial(t)
	ch, err = conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.QueueDeclarePassive("testenv-durable", true, false, false, false, nil); err != nil {
		t.Errorf("the durable queue did not survive the restart: %v", err)
	}
	_ = conn.Close()

	srv.Stop()
	for _, port := range ports {
		if c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), time.Second); err == nil {
			_ = c.Close()
			t.Errorf("port %d still answers after Stop", port)
		}
	}
}

// listeners returns the local address (hex, as in /proc/net/tcp) of every
// listening TCP socket on one of ports.
func listeners(t *testing.T, ports []int) []string {
	t.Helper()
	want := map[string]bool{}
	for _, p := range ports {
		want[fmt.Sprintf("%04X", p)] = true
	}
	var out []string
	for _, file := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 4 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			addr, port, ok := strings.Cut(fields[1], ":")
			if ok && want[port] {
				out = append(out, addr)
			}
		}
	}
	return out
}
