package selector

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// Strategy chooses the node of a call among its candidates.
type Strategy interface {
	// Pick returns the index in candidates of the node to use. candidates
	// is never empty and is in the same order (by node ID) on every call,
	// less the nodes that are ejected or already tried by the call.
	Pick(service string, candidates []Candidate) int
}

// StrategyFunc makes a Strategy of a function.
type StrategyFunc func(service string, candidates []Candidate) int

// Pick implements Strategy.
func (f StrategyFunc) Pick(service string, candidates []Candidate) int {
	return f(service, candidates)
}

var (
	_ Strategy = StrategyFunc(nil)
	_ Strategy = (*roundRobin)(nil)
)

// Random picks a candidate uniformly at random. It is the default.
func Random() Strategy {
	return StrategyFunc(func(_ string, candidates []Candidate) int {
		return rand.IntN(len(candidates))
	})
}

// RoundRobin takes the candidates in turn, with one turn counter per service
// shared by every call: n calls over k nodes give each node n/k of them. Each
// RoundRobin value has counters of its own.
func RoundRobin() Strategy { return &roundRobin{} }

type roundRobin struct {
	counters sync.Map // service name -> *atomic.Uint64
}

func (r *roundRobin) Pick(service string, candidates []Candidate) int {
	counter, ok := r.counters.Load(service)
	if !ok {
		counter, _ = r.counters.LoadOrStore(service, new(atomic.Uint64))
	}
	turn := counter.(*atomic.Uint64).Add(1) - 1
	return int(turn % uint64(len(candidates)))
}

// LeastInFlight picks the candidate with the fewest calls in progress through
// this selector, choosing at random among equals.
func LeastInFlight() Strategy {
	return StrategyFunc(func(_ string, candidates []Candidate) int {
		best, ties := 0, 0
		for i, c := range candidates {
			switch {
			case c.InFlight < candidates[best].InFlight:
				best, ties = i, 1
			case c.InFlight == candidates[best].InFlight:
				// Reservoir sampling keeps each of the equals with the
				// same chance.
				ties++
				if rand.IntN(ties) == 0 {
					best = i
				}
			}
		}
		return best
	})
}
