package natsserver_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/microtools/micro/pkg/natsserver"
)

func Example() {
	dir, err := os.MkdirTemp("", "natsserver-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	srv, err := natsserver.Start(ctx, natsserver.Options{Address: "127.0.0.1:0", DataDir: dir})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Shutdown()

	fmt.Println(strings.HasPrefix(srv.ClientURL(), "nats://127.0.0.1:"))
	// Output: true
}
