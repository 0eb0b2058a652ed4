// Command natsrtt measures what a registry read over NATS is made of on this
// machine, against the NATS server at -server, for bench/peers.sh (figure C,
// whose target is each phase of `micro call -v` near one loopback round
// trip): a fresh nats.go connection (TCP connect, the server's INFO, then
// CONNECT and PING answered by PONG) and one round trip on that connection
// (PING, PONG), each the median of -n tries, a new connection each try.
//
//	natsrtt -server nats://127.0.0.1:4222 [-n 20]
//
// prints one line:
//
//	connect 1.95 ms, round trip 0.31 ms (medians of 20)
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
	connect, rtt, err := measure(*url, *n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "natsrtt:", err)
		os.Exit(1)
	}
	fmt.Printf("connect %.2f ms, round trip %.2f ms (medians of %d)\n", ms(connect), ms(rtt), *n)
}

// measure returns the median time of n fresh connections to url and of the
// first round trip on each.
func measure(url string, n int) (connect, rtt time.Duration, err error) {
	var connects, rtts []time.Duration
	for range n {
		start := time.Now()
		nc, err := nats.Connect(url, nats.NoReconnect(), nats.Timeout(5*time.Second))
		if err != nil {
			return 0, 0, fmt.Errorf("connect to %s: %w", url, err)
		}
		connects = append(connects, time.Since(start))
		d, err := nc.RTT()
		nc.Close()
		if err != nil {
			return 0, 0, fmt.Errorf("round trip to %s: %w", url, err)
		}
		rtts = append(rtts, d)
	}
	return median(connects), median(rtts), nil
}

func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
