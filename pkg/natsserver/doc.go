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
package natsserver
