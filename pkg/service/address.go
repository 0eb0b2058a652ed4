package service

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// advertiseAddress returns the address to register for a service whose
// listener is bound to listenAddr (the listener's own address, so its port is
// known). An explicit advertise address wins; a missing or zero port in it is
// taken from the listener, and an unspecified host in it is chosen as below.
// A listener bound to every interface (0.0.0.0, [::]) is advertised with a
// non-loopback unicast address from ifaceAddrs, private before global and
// IPv4 before IPv6 (IPv4 only for 0.0.0.0), or 127.0.0.1 when there is none.
// Nothing is sent anywhere: ifaceAddrs is the machine's interface list.
func advertiseAddress(listenAddr, advertise string, ifaceAddrs []net.Addr) (string, error) {
	listenHost, listenPort, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("listen address %q: %w", listenAddr, err)
	}
	host, port := listenHost, listenPort
	if advertise != "" {
		host, port, err = net.SplitHostPort(advertise)
		if err != nil {
			// A host alone: "10.0.0.5", "::1", "[::1]", "greeter.internal".
			host, port = strings.TrimSuffix(strings.TrimPrefix(advertise, "["), "]"), ""
		}
		if port == "" || port == "0" {
			port = listenPort
		}
	}
	if host == "" {
		return net.JoinHostPort(pickHost(ifaceAddrs, false), port), nil
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.IsUnspecified() {
		return net.JoinHostPort(host, port), nil
	}
	return net.JoinHostPort(pickHost(ifaceAddrs, ip.Is4()), port), nil
}

// pickHost returns the best address others can reach this machine at: a
// private IPv4 address, else a global IPv4 address, else (unless ipv4Only)
// a private then a global IPv6 address, else 127.0.0.1. Ties go to the
// first address in the list.
func pickHost(ifaceAddrs []net.Addr, ipv4Only bool) string {
	best, bestRank := "127.0.0.1", 4
	for _, addr := range ifaceAddrs {
		ip, ok := addrIP(addr)
		if !ok || !ip.IsGlobalUnicast() || ip.IsLoopback() || ip.IsLinkLocalUnicast() {
			continue
		}
		var rank int
		switch {
		case ip.Is4() && ip.IsPrivate():
			rank = 0
		case ip.Is4():
			rank = 1
		case ipv4Only:
			continue
		case ip.IsPrivate():
			rank = 2
		default:
			rank = 3
		}
		if rank < bestRank {
			best, bestRank = ip.String(), rank
		}
	}
	return best
}

// addrIP extracts the IP of an interface address, unmapping IPv4-in-IPv6.
func addrIP(addr net.Addr) (netip.Addr, bool) {
	var raw net.IP
	switch a := addr.(type) {
	case *net.IPNet:
		raw = a.IP
	case *net.IPAddr:
		raw = a.IP
	default:
		return netip.Addr{}, false
	}
	ip, ok := netip.AddrFromSlice(raw)
	return ip.Unmap(), ok
}

// upInterfaceAddrs lists the addresses of the interfaces that are up.
func upInterfaceAddrs() ([]net.Addr, error) {
	ifaces, err := net.Interfaces()
	if err != nil {
		return nil, fmt.Errorf("list network interfaces: %w", err)
	}
	var out []net.Addr
	for _, iface := range ifaces {
		if iface.Flags&net.FlagUp == 0 || iface.Flags&net.FlagLoopback != 0 {
			continue
		}
		addrs, err := iface.Addrs()
		if err != nil {
			return nil, fmt.Errorf("list addresses of interface %s: %w", iface.Name, err)
		}
		out = append(out, addrs...)
	}
	return out, nil
}
