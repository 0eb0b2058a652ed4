// Package selector picks the node of a service that a call goes to.
//
// A Cache is the Selector built on a registry.Registry. The first Select of a
// service fetches its nodes and starts a watch that keeps them fresh; from
// then on a Select costs no registry round trip. When the watch breaks, the
// cache keeps serving the nodes it has, refetches them every CacheTTL and
// restarts the watch with a growing back-off, so calls go on succeeding while
// the registry restarts.
//
// Select returns a Next function that yields the candidates of one call in
// turn: a retry gets a node it has not tried yet. Each node comes with a Done
// function to call when the call to it ends; Done keeps the count of calls in
// flight (for LeastInFlight) and ejects a node whose call failed to connect:
//
//	next, err := sel.Select(ctx, "greeter", selector.WithVersion("v2"))
//	if err != nil {
//		return err // unknown service, or no node passes the filters
//	}
//	for attempt := 0; attempt < 3; attempt++ {
//		node, done, err := next()
//		if err != nil {
//			return err // every node was tried
//		}
//		err = invoke(ctx, node.Address)
//		done(err)
//		if !selector.IsConnectionError(err) {
//			return err
//		}
//	}
//
// An ejected node is skipped for a back-off period (EjectBackoff, doubling on
// each failure in a row up to a maximum); a successful call through it clears
// its record. When every remaining node is ejected, Next offers them anyway
// rather than fail a call that might have succeeded.
//
// A process that makes a call or two can do without the watch: with NoWatch
// the nodes are fetched on the first Select and refetched once CacheTTL old.
//
// Strategies (Random, the default; RoundRobin, which balances across calls;
// LeastInFlight) choose among the candidates; filters (WithVersion,
// WithMetadata, WithFilter) narrow them.
package selector
