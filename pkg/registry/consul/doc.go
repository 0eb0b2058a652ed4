// Package consul is a registry.Registry backed by a Consul agent
// (github.com/hashicorp/consul/api).
//
// Each node of a service is one Consul service instance on the agent: its ID
// is the node ID, its name the service name, its address and port come from
// the node address, and it has a TTL health check that Register marks passing.
// Register is also the heartbeat: for a node it registered before with the
// same record it only refreshes the TTL check, and when the agent has lost the
// node (an agent restarted with fresh state) it registers it in full again.
// A node whose check stays critical is removed by Consul after twice its TTL,
// and never sooner than a minute, Consul's minimum for
// DeregisterCriticalServiceAfter.
//
// # What is written
//
// The record is written twice. Consul Meta gets the version ("version"), the
// node metadata and then the service metadata, as far as Consul's limits
// allow (64 keys; keys of at most 128 characters from [A-Za-z0-9_-], not
// starting with "consul-"; values of at most 512 bytes); entries that do not
// fit are left out of Meta only. Tags get the whole record in go-micro's
// encoding, hex of zlib-compressed data, so go-micro clients can read it and
// nothing is lost:
//
//	v-<hex(zlib(version))>                the version, as text
//	t-<hex(zlib(JSON {"key":"value"}))>   one per node metadata entry
//	e-<hex(zlib(JSON endpoint))>          one per endpoint
//	s-<hex(zlib(JSON service metadata))>  service metadata (this package only)
//
// # What is read
//
// Services registered by others are read too: go-micro registrations (the
// tags above, and the older plain forms v=, t= and e= holding the text or
// JSON as is), and plain Consul registrations, whose version is Meta
// "version" and whose node metadata is Meta. A node's address is the service
// address, or the address of the Consul node when the service has none, with
// the service port.
//
// GetService returns passing nodes only unless registry.IncludeUnhealthy is
// given; every node has Health set to passing, warning or critical, the worst
// of its service and node checks (maintenance counts as critical).
// ListServices returns every node, healthy or not.
//
// # Watching
//
// Watch uses Consul blocking queries and reports the nodes GetService would
// return: a node that starts failing its checks is reported deleted, and
// created again when it recovers. Watching one service follows that service's
// health; watching every service follows the catalog and every health check,
// and compares snapshots with registry.Diff. While the agent cannot be
// reached the watch retries with back-off.
//
// # ACLs
//
// Reads that Consul's ACLs cut short are errors wrapping
// registry.ErrPermissionDenied, not empty answers: a 403 (a registration
// without service:write, a token the agent does not know), results the
// agent filtered from the token (the X-Consul-Results-Filtered-By-ACLs
// header), and, for requests without a token to an agent whose default
// policy is deny, a catalog without Consul's own service or a GetService
// that finds nothing. ListServices returns what it could read together with
// such an error when only some services were hidden.
//
// # Configuration
//
// The package does not read the environment: New takes options, and
// EnvOptions turns Consul's usual variables (CONSUL_HTTP_ADDR,
// CONSUL_HTTP_TOKEN, CONSUL_HTTP_TOKEN_FILE, CONSUL_HTTP_SSL, CONSUL_CAPATH,
// CONSUL_NAMESPACE, ...) into options for callers that want
// them, given a lookup function such as os.LookupEnv. The Consul client
// library falls back on those variables for settings left empty; the HTTP
// client New builds sends only the address, token, namespace and partition
// the options give, and uses no proxy.
package consul
