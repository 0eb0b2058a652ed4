// Package etcd is a registry.Registry backed by an etcd cluster
// (go.etcd.io/etcd/client/v3), which also reads the records that go-micro,
// kratos and go-zero services keep in etcd.
//
// # What is written
//
// Each node of a service is one key, <prefix><service>/<node id> (prefix
// "/micro/services/" by default; service name and node ID path-escaped, so
// a "/" in either stays inside its segment). The value is the JSON
// single-node service record: name, version, metadata, endpoints and the
// node with its ID, address and metadata, the shape go-micro writes too.
//
// The key is attached to a lease of the registration's TTL, in whole
// seconds (etcd raises a TTL below its minimum, about two seconds with
// default timing). Register is also the heartbeat: for a node it registered
// before with the same record and TTL it sends one keep-alive for the lease
// and puts the key back if someone deleted or changed it; a changed record,
// or a lease etcd no longer has (the TTL passed before the heartbeat, or the
// member lost its data), is registered in full under a new lease. A node
// that stops its heartbeat is removed by etcd when its lease expires, and
// watchers see the delete. registry.NoExpiry writes a key without a lease.
// Deregister deletes the key and revokes the lease.
//
// # What is read
//
// GetService, ListServices and Watch read every layout given by
// WithLayouts (all by default), each node with the node metadata
// "registry-layout" saying where it came from:
//
//	micro    <prefix><service>/<node id>     micro's record, above
//	gomicro  /micro/registry/<service>/<id>  go-micro's JSON service record
//	kratos   /microservices/<service>/<id>   kratos' JSON instance {id, name,
//	                                         version, metadata, endpoints}
//	gozero   <service>/<lease id>            "host:port"
//
// A kratos node's address is the host:port of its grpc:// endpoint, with
// protocol "grpc"; an instance with only http:// endpoints is listed with
// protocol "http" and its http address, which no gRPC caller picks. Its
// endpoints are kept in the node metadata "kratos-endpoints". A go-zero node
// is gRPC (zRPC); its service is the key without the last segment. Without
// WithGoZeroKeys every key of the form <name>/<number> whose value is a
// host:port address is a go-zero record, which means that listing and
// watching every service reads and watches the whole key space; with it
// only the keys under the given names are read.
//
// Every node read is passing: etcd removes expired nodes itself. A record
// that cannot be read (bad JSON, no name, no address) is skipped and given
// to the WithOnError function once per version of the record.
//
// # Watching
//
// Watch reads the records and then watches their prefixes from the
// revision it read them at. The etcd client resumes the watches from the
// last revision seen after a disconnect, so nothing written meanwhile is
// lost. When that revision was compacted away, the watcher reads everything
// again and reports the difference. It also checks, after every
// reconnection and every few seconds (WithProgressInterval), that etcd
// still has the history it follows, with a linearizable read of one key's
// response header: an etcd whose revision went back (a member that lost its
// data or was restored from a backup) or whose cluster ID changed (another
// cluster at the address) is read again the same way. A wiped etcd that has
// already passed the watch's revision, under the same cluster ID, when the
// watch checks cannot be told from the one before.
//
// # Connecting
//
// New connects at once: several endpoints form a cluster, https://
// endpoints or WithTLS use TLS, and WithAuth logs in with etcd's
// user and password. No member accepting a connection fails within the
// connect timeout with an error wrapping registry.ErrUnreachable that names
// the endpoints, and wrong credentials with one wrapping ErrAuth. The
// package does not read the environment.
package etcd
