package natsconn_test

import (
	"context"
	"errors"
	"net"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/natsconn"
)

func TestSplitAndRedactURLs(t *testing.T) {
	cases := []struct {
		in        string
		split     []string
		redacted  string
		addresses []string
	}{
		{"127.0.0.1:4222", []string{"nats://127.0.0.1:4222"}, "nats://127.0.0.1:4222", []string{"127.0.0.1:4222"}},
		{" nats://a:1 , ,b ", []string{"nats://a:1", "nats://b"}, "nats://a:1,nats://b", []string{"a:1", "b:4222"}},
		{"nats://ada:secret@h:4222", []string{"nats://ada:secret@h:4222"}, "nats://h:4222", []string{"h:4222"}},
		{"tls://tok@h", []string{"tls://tok@h"}, "tls://h", []string{"h:4222"}},
	}
	for _, c := range cases {
		if have := natsconn.SplitURLs(c.in); !slices.Equal(have, c.split) {
			t.Errorf("SplitURLs(%q): want %q, have %q", c.in, c.split, have)
		}
		if have := natsconn.RedactURLs(c.in); have != c.redacted {
			t.Errorf("RedactURLs(%q): want %q, have %q", c.in, c.redacted, have)
		}
		if have := natsconn.ServerAddresses(c.in); !slices.Equal(have, c.addresses) {
			t.Errorf("ServerAddresses(%q): want %q, have %q", c.in, c.addresses, have)
		}
	}
}

func TestEventString(t *testing.T) {
	cases := []struct {
		ev   natsconn.Event
		want string
	}{
		{natsconn.Event{Kind: natsconn.Disconnected, URL: "nats://h:1", Err: errors.New("EOF")}, "disconnected from nats://h:1: EOF"},
		{natsconn.Event{Kind: natsconn.Reconnected, URL: "nats://h:1"}, "reconnected to nats://h:1"},
		{natsconn.Event{Kind: natsconn.Closed, URL: "nats://h:1"}, "closed at nats://h:1"},
		{natsconn.Event{Kind: natsconn.AsyncError, URL: "nats://h:1", Subject: "a.b", Err: errors.New("slow consumer")}, "error at nats://h:1 on topic a.b: slow consumer"},
	}
	for _, c := range cases {
		if have := c.ev.String(); have != c.want {
			t.Errorf("want %q, have %q", c.want, have)
		}
	}
}

func closedAddress(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

func TestConnectUnreachable(t *testing.T) {
	addr := closedAddress(t)
	_, err := natsconn.Connect(context.Background(), natsconn.Options{URL: "nats://u:p@" + addr})
	if !errors.Is(err, natsconn.ErrUnreachable) || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("want ErrUnreachable and ECONNREFUSED, have %v", err)
	}
	if want := "cannot reach nats at nats://" + addr + ": connection refused"; err.Error() != want {
		t.Errorf("want %q, have %q", want, err)
	}
}

func TestConnectEvents(t *testing.T) {
	srv := testenv.NATS(t)
	events := make(chan natsconn.Event, 16)
	nc, err := natsconn.Connect(context.Background(), natsconn.Options{
		URL:           srv.URL(),
		ReconnectWait: 20 * time.Millisecond,
		OnEvent:       func(ev natsconn.Event) { events <- ev },
	})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	srv.Restart(t)
	for _, want := range []natsconn.EventKind{natsconn.Disconnected, natsconn.Reconnected} {
		select {
		case ev := <-events:
			if ev.Kind != want || ev.URL != srv.URL() {
				t.Errorf("want %s from %s, have %s", want, srv.URL(), ev)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("no %s event", want)
		}
	}
	nc.Close() // a disconnect, then the close
	for {
		select {
		case ev := <-events:
			if ev.Kind == natsconn.Closed {
				return
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no closed event")
		}
	}
}

func TestConnectBadFiles(t *testing.T) {
	cases := []struct {
		name string
		opts natsconn.Options
		want string
	}{
		{"no url", natsconn.Options{}, "no nats server url"},
		{"creds", natsconn.Options{URL: "nats://127.0.0.1:1", Auth: natsconn.Auth{CredsFile: "/nonexistent"}}, "credentials file"},
		{"nkey", natsconn.Options{URL: "nats://127.0.0.1:1", Auth: natsconn.Auth{NKeySeedFile: "/nonexistent"}}, "nkey seed file"},
		{"ca", natsconn.Options{URL: "nats://127.0.0.1:1", TLS: natsconn.TLS{CAFile: "/nonexistent"}}, "tls ca file"},
		{"half a client cert", natsconn.Options{URL: "nats://127.0.0.1:1", TLS: natsconn.TLS{KeyFile: "k"}}, "both"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := natsconn.Connect(context.Background(), c.opts)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("want an error saying %q, have %v", c.want, err)
			}
		})
	}
}

// authServer runs a NATS server that wants the token "secret".
func authServer(t *testing.T) string {
	t.Helper()
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, Authorization: "secret", NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	ns.Start()
	t.Cleanup(ns.Shutdown)
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats server not ready")
	}
	return ns.ClientURL()
}

func TestConnectAuth(t *testing.T) {
	url := authServer(t)
	cases := []struct {
		name    string
		auth    natsconn.Auth
		wantErr bool
	}{
		{"right token", natsconn.Auth{Token: "secret"}, false},
		{"wrong token", natsconn.Auth{Token: "guess"}, true},
		{"none", natsconn.Auth{}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			nc, err := natsconn.Connect(context.Background(), natsconn.Options{URL: url, Auth: c.auth})
			if !c.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				nc.Close()
				return
			}
			if !errors.Is(err, natsconn.ErrAuth) || errors.Is(err, natsconn.ErrUnreachable) {
				t.Fatalf("want ErrAuth and not ErrUnreachable, have %v", err)
			}
			if !strings.Contains(err.Error(), "nats at "+url+" refused the credentials") {
				t.Errorf("want the server named, have %v", err)
			}
		})
	}
}
