package cmdutil

import "runtime/debug"

// ServingGCPercent is the Go collector's target (GOGC) of the commands
// that make their garbage per request and keep a small live heap, `micro
// api` and `micro bench`: collecting when the heap has grown by four times
// the live heap, not by one, costs a few MB and cuts the collector's share
// of the CPU (8–10% at Go's default) by as much.
const ServingGCPercent = 400

// LessGarbageCollection sets the collector's target to ServingGCPercent,
// unless GOGC is set in the command's environment (then it decides), and
// returns what puts the previous target back.
func (f *Factory) LessGarbageCollection() (restore func()) {
	if f.Env != nil {
		if _, set := f.Env("GOGC"); set {
			return func() {}
		}
	}
	previous := debug.SetGCPercent(ServingGCPercent)
	return func() { debug.SetGCPercent(previous) }
}
