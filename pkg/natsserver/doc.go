// Package natsserver runs an embedded NATS server with JetStream, in-process.
//
// `micro server` uses it to give a laptop a registry and broker with nothing
// else to install, and tests use it to get a real server on 127.0.0.1:0 with
// a temporary store directory:
//
//	srv, err := natsserver.Start(ctx, natsserver.Options{
//		Address: "127.0.0.1:0",
//		DataDir: dir,
//	})
//	if err != nil { ... }
//	defer srv.Shutdown()
//	url := srv.ClientURL() // nats://127.0.0.1:41873
//
// The server is silent unless Options.Logger is set, handles no signals and
// never exits the process: failures that nats-server reports as fatal (a port
// that is taken, a store directory it cannot use) come back from Start as
// errors.
//
// With Options.Cluster the server is a member of a NATS cluster: it listens
// for routes, connects to the other members, and clusters JetStream over
// them, so that streams and key-value buckets can keep several replicas.
// WaitJetStream waits until the members have elected a leader:
//
//	srv, err := natsserver.Start(ctx, natsserver.Options{
//		Address: "127.0.0.1:4222",
//		DataDir: dir,
//		Cluster: natsserver.ClusterOptions{
//			Name:    "micro",
//			Address: "127.0.0.1:6222",
//			Routes:  []string{"127.0.0.1:6223", "127.0.0.1:6224"},
//		},
//	})
//	...
//	err = srv.WaitJetStream(ctx)
package natsserver
