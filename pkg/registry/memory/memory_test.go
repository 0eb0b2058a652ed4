package memory_test

import (
	"testing"

	"github.com/microtools/micro/pkg/registry"
	"github.com/microtools/micro/pkg/registry/memory"
	"github.com/microtools/micro/pkg/registry/registrytest"
)

func TestContract(t *testing.T) {
	registrytest.Run(t, func(t *testing.T) registry.Registry {
		r := memory.New()
		t.Cleanup(func() { _ = r.Close() })
		return r
	})
}
