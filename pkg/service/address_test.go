package service

import (
	"net"
	"testing"
)

func ipNet(s string) net.Addr {
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		panic(err)
	}
	n.IP = ip
	return n
}

func TestAdvertiseAddress(t *testing.T) {
	loopbackOnly := []net.Addr{ipNet("127.0.0.1/8"), ipNet("::1/128")}
	lan := []net.Addr{
		ipNet("127.0.0.1/8"),
		ipNet("fe80::1/64"),
		ipNet("169.254.3.4/16"),
		ipNet("203.0.113.7/24"), // global IPv4
		ipNet("192.168.1.20/24"),
		ipNet("10.0.0.5/8"),
		ipNet("fd00::5/64"),
	}
	ipv6Only := []net.Addr{ipNet("::1/128"), ipNet("fe80::1/64"), ipNet("2001:db8::9/64"), ipNet("fd12::3/64")}
	globalIPv6Only := []net.Addr{ipNet("2001:db8::9/64")}
	mapped := []net.Addr{&net.IPAddr{IP: net.ParseIP("::ffff:10.1.2.3")}}

	tests := []struct {
		name      string
		listen    string
		advertise string
		addrs     []net.Addr
		want      string
	}{
		{name: "loopback listener", listen: "127.0.0.1:4000", addrs: lan, want: "127.0.0.1:4000"},
		{name: "ipv6 loopback listener", listen: "[::1]:4000", addrs: lan, want: "[::1]:4000"},
		{name: "specific address", listen: "192.168.1.20:4000", addrs: lan, want: "192.168.1.20:4000"},
		{name: "ipv4 any picks private ipv4", listen: "0.0.0.0:4000", addrs: lan, want: "192.168.1.20:4000"},
		{name: "ipv6 any picks private ipv4", listen: "[::]:4000", addrs: lan, want: "192.168.1.20:4000"},
		{name: "empty host picks private ipv4", listen: ":4000", addrs: lan, want: "192.168.1.20:4000"},
		{name: "no interfaces", listen: "[::]:4000", want: "127.0.0.1:4000"},
		{name: "loopback interfaces only", listen: "0.0.0.0:4000", addrs: loopbackOnly, want: "127.0.0.1:4000"},
		{name: "ipv6 any picks private ipv6", listen: "[::]:4000", addrs: ipv6Only, want: "[fd12::3]:4000"},
		{name: "ipv6 any picks global ipv6", listen: "[::]:4000", addrs: globalIPv6Only, want: "[2001:db8::9]:4000"},
		{name: "ipv4 any ignores ipv6", listen: "0.0.0.0:4000", addrs: ipv6Only, want: "127.0.0.1:4000"},
		{name: "global ipv4 before ipv6", listen: "[::]:4000", addrs: []net.Addr{ipNet("fd00::1/64"), ipNet("203.0.113.7/24")}, want: "203.0.113.7:4000"},
		{name: "ipv4-mapped address", listen: "0.0.0.0:4000", addrs: mapped, want: "10.1.2.3:4000"},
		{name: "first of equals wins", listen: "[::]:4000", addrs: []net.Addr{ipNet("10.9.9.9/8"), ipNet("10.0.0.1/8")}, want: "10.9.9.9:4000"},

		{name: "explicit advertise wins", listen: "[::]:4000", advertise: "greeter.internal:9000", addrs: lan, want: "greeter.internal:9000"},
		{name: "explicit advertise over loopback", listen: "127.0.0.1:4000", advertise: "10.1.1.1:9000", addrs: lan, want: "10.1.1.1:9000"},
		{name: "advertise host only", listen: "[::]:4000", advertise: "10.1.1.1", want: "10.1.1.1:4000"},
		{name: "advertise hostname only", listen: "[::]:4000", advertise: "greeter.internal", want: "greeter.internal:4000"},
		{name: "advertise bare ipv6", listen: "[::]:4000", advertise: "fd00::7", want: "[fd00::7]:4000"},
		{name: "advertise bracketed ipv6", listen: "[::]:4000", advertise: "[fd00::7]", want: "[fd00::7]:4000"},
		{name: "advertise port zero", listen: "[::]:4000", advertise: "10.1.1.1:0", want: "10.1.1.1:4000"},
		{name: "advertise port only", listen: "127.0.0.1:4000", advertise: ":9000", addrs: lan, want: "192.168.1.20:9000"},
		{name: "advertise unspecified host", listen: "127.0.0.1:4000", advertise: "0.0.0.0:9000", addrs: lan, want: "192.168.1.20:9000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			have, err := advertiseAddress(tt.listen, tt.advertise, tt.addrs)
			if err != nil {
				t.Fatalf("advertiseAddress(%q, %q): %v", tt.listen, tt.advertise, err)
			}
			if have != tt.want {
				t.Errorf("advertiseAddress(%q, %q): want %q, have %q", tt.listen, tt.advertise, tt.want, have)
			}
		})
	}
}

func TestAdvertiseAddressBadListenAddress(t *testing.T) {
	if _, err := advertiseAddress("no-port", "", nil); err == nil {
		t.Fatal("want an error for a listen address without a port")
	}
}

func TestUpInterfaceAddrsHasNoLoopback(t *testing.T) {
	addrs, err := upInterfaceAddrs()
	if err != nil {
		t.Fatalf("upInterfaceAddrs: %v", err)
	}
	for _, addr := range addrs {
		if ip, ok := addrIP(addr); ok && ip.IsLoopback() {
			t.Errorf("loopback address %s listed", addr)
		}
	}
}
