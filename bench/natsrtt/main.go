// Command natsrtt measures what a registry read over NATS is made of on this
// machine, against the NATS server at -server, for bench/peers.sh (figure C,
// whose target is each phase of `micro call -v` near one loopback round
// trip): a fresh nats.go connection (TCP connect, the server's INFO, then
// CONNECT and PING answered by PONG) and one round trip on that connection
// (PING, PONG), each the median of -n tries, a new connection each try; and
// the first connection alone, which pays what a process's first connection
// pays (as the one `micro call` makes does).
//
//	natsrtt -server nats://127.0.0.1:4222 [-n 20]
//
// prints one line:
//
//	first connect 1.90 ms; connect 0.69 ms, round trip 0.21 ms (medians of 20)
package main

import (
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/nats-io/nats.go"
)

func main() {
	url := flag.String("server", "", "the NATS server's URL (nats://host:port)")
	n := flag.Int("n", 20, "tries")
	flag.Parse()
	if *url == "" || *n < 1 {
		fmt.Fprintln(os.Stderr, "usage: natsrtt -server nats://HOST:PORT [-n TRIES]")
		os.Exit(2)
	}
	first, connect, rtt, err := measure(*url, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsrtt:", err)
		os.Exit(1)
	}
	fmt.Printf("first connect %.2f ms; connect %.2f ms, round trip %.2f ms (medians of %d)\n", ms(first), ms(connect), ms(rtt), *n)
}

// measure returns the time of the process's first connection to url, and
// the median time of n fresh connections after it and of the first round
// trip on each.
func measure(url string, n int) (first, connect, rtt time.Duration, err error) {
	var connects, rtts []time.Duration
	for i := range n + 1 {
		start := time.Now()
		nc, err := nats.Connect(url, nats.NoReconnect(), nats.Timeout(5*time.Second))
		if err != nil {
			return 0, 0, 0, fmt.Errorf("connect to %s: %w", url, err)
		}
		took := time.Since(start)
		d, err := nc.RTT()
		nc.Close()
		if err != nil {
			return 0, 0, 0, fmt.Errorf("round trip to %s: %w", url, err)
		}
		if i == 0 {
			first = took
			continue
		}
		connects = append(connects, took)
		rtts = append(rtts, d)
	}
	return first, median(connects), median(rtts), nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
