// Command micro finds, calls and operates gRPC microservices by name.
package main

import (
	"os"

	"github.com/microtools/micro/cmd"
)

func main() { os.Exit(cmd.Main()) }
