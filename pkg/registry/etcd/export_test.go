package etcd

// Resyncs is how often the watches of r read everything again instead of
// resuming from their revision.
func Resyncs(r *Registry) int64 { return r.resyncs.Load() }
