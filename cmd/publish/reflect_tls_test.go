package publish

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/reflection"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/examples/greeter/handler"
	greeterpb "github.com/microtools/micro/examples/greeter/proto"
	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/registry"
	natsregistry "github.com/microtools/micro/pkg/registry/nats"
)

// TestPublishReflectTLS: `publish --type X --reflect SERVICE` asks a
// greeter that serves only TLS for the type, with the TLS flags of `micro
// call`; without the CA it fails on the certificate.
func TestPublishReflectTLS(t *testing.T) {
	srv := testenv.NATS(t)
	pki := testenv.NewPKI(t)

	server := grpc.NewServer(grpc.Creds(credentials.NewTLS(pki.ServerConfig(false))))
	greeterpb.RegisterGreeterServer(server, handler.New())
	reflection.Register(server)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(lis)
	t.Cleanup(server.Stop)

	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	reg, err := natsregistry.New(ctx, natsregistry.WithURL(srv.URL()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	svc := &registry.Service{Name: "greeter", Version: "1.0.0", Nodes: []*registry.Node{{ID: "greeter-1", Address: lis.Addr().String()}}}
	if err := reg.Register(ctx, svc, registry.NoExpiry()); err != nil {
		t.Fatal(err)
	}
	// Subscribed after the registration, so that its announcement is not
	// seen as a message.
	fx := newFixture(t, srv.URL())

	publish := func(extra ...string) []string {
		return append([]string{"greetings", `{"name":"Ada"}`, "--type", "greeter.v1.Greeted", "--reflect", "greeter"}, extra...)
	}
	cases := []struct {
		name    string
		args    []string
		wantErr string // "" for success
	}{
		{"the CA", publish("--cacert", pki.CAFile), ""},
		{"--tls, the CA and the authority", publish("--tls", "--cacert", pki.CAFile, "--authority", "greeter"), ""},
		{"another CA", publish("--cacert", pki.OtherCAFile), "certificate"},
		{"plaintext to TLS", publish(), "greeter"},
		{"TLS flags without --reflect", []string{"greetings", `{}`, "--type", "greeter.v1.Greeted", "--proto", greeterProto, "--cacert", pki.CAFile}, "--reflect"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := fx.run(t, "", tc.args...)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("want an error with %q, have %v", tc.wantErr, err)
				}
				fx.nothingMore(t)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			m := fx.received(t, 1)[0]
			var msg greeterpb.Greeted
			if err := proto.Unmarshal(m.Data, &msg); err != nil || msg.GetName() != "Ada" {
				t.Errorf("want a greeter.v1.Greeted for Ada, have %q (%v)", m.Data, err)
			}
		})
	}
}
