package call_test

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/descriptorpb"

	"github.com/microtools/micro/pkg/call"
)

// twoGreeters is a source with a Greeter service in two packages.
func twoGreeters(t *testing.T) *call.FileSource {
	t.Helper()
	file := func(pkg string) *descriptorpb.FileDescriptorProto {
		return &descriptorpb.FileDescriptorProto{
			Name:        new(pkg + "/greeter.proto"),
			Package:     new(pkg),
			Syntax:      new("proto3"),
			MessageType: []*descriptorpb.DescriptorProto{{Name: new("Req")}},
			Service: []*descriptorpb.ServiceDescriptorProto{{
				Name:   new("Greeter"),
				Method: []*descriptorpb.MethodDescriptorProto{{Name: new("Hello"), InputType: new("." + pkg + ".Req"), OutputType: new("." + pkg + ".Req")}},
			}},
		}
	}
	src, err := call.NewDescriptorSetSource(&descriptorpb.FileDescriptorSet{
		File: []*descriptorpb.FileDescriptorProto{file("a.v1"), file("b.v1")},
	}, "two greeters")
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func TestFindMethod(t *testing.T) {
	greeter := greeterProtoSource(t)
	ambiguous := twoGreeters(t)
	tests := []struct {
		name     string
		src      call.DescriptorSource
		endpoint string
		want     string   // full method name, when found
		wantErr  error    // sentinel, when not
		mentions []string // what the error must name
	}{
		{name: "gRPC form", src: greeter, endpoint: "greeter.v1.Greeter/Hello", want: "/greeter.v1.Greeter/Hello"},
		{name: "gRPC form with leading slash", src: greeter, endpoint: "/greeter.v1.Greeter/Stream", want: "/greeter.v1.Greeter/Stream"},
		{name: "fully qualified", src: greeter, endpoint: "greeter.v1.Greeter.Collect", want: "/greeter.v1.Greeter/Collect"},
		{name: "go-micro style", src: greeter, endpoint: "Greeter.Chat", want: "/greeter.v1.Greeter/Chat"},
		{name: "partial package", src: greeter, endpoint: "v1.Greeter.Hello", want: "/greeter.v1.Greeter/Hello"},
		{name: "short name with slash", src: greeter, endpoint: "Greeter/Hello", want: "/greeter.v1.Greeter/Hello"},
		{name: "ambiguous short name resolved by package", src: ambiguous, endpoint: "b.v1.Greeter.Hello", want: "/b.v1.Greeter/Hello"},
		{
			name: "unknown service", src: greeter, endpoint: "Farewell.Hello",
			wantErr: call.ErrServiceNotFound, mentions: []string{`"Farewell"`, "greeter.v1.Greeter", "of greeter"},
		},
		{
			name: "unknown package", src: greeter, endpoint: "other.v1.Greeter.Hello",
			wantErr: call.ErrServiceNotFound, mentions: []string{`"other.v1.Greeter"`, "greeter.v1.Greeter"},
		},
		{
			name: "unknown method", src: greeter, endpoint: "Greeter.Goodbye",
			wantErr: call.ErrMethodNotFound, mentions: []string{`"Goodbye"`, "greeter.v1.Greeter", "Hello, Stream, Collect, Chat"},
		},
		{
			name: "ambiguous short name", src: ambiguous, endpoint: "Greeter.Hello",
			wantErr: call.ErrAmbiguousService, mentions: []string{"a.v1.Greeter", "b.v1.Greeter"},
		},
		{name: "method alone", src: greeter, endpoint: "Stream", want: "/greeter.v1.Greeter/Stream"},
		{
			name: "method alone in two services", src: ambiguous, endpoint: "Hello",
			wantErr: call.ErrAmbiguousService, mentions: []string{"a.v1.Greeter.Hello", "b.v1.Greeter.Hello", "Service.Method"},
		},
		{
			name: "unknown method alone", src: greeter, endpoint: "Goodbye",
			wantErr: call.ErrMethodNotFound, mentions: []string{`"Goodbye"`, "greeter.v1.Greeter"},
		},
		{name: "no method", src: greeter, endpoint: "Greeter", wantErr: call.ErrMethodNotFound, mentions: []string{`"Greeter"`}},
		{name: "empty method", src: greeter, endpoint: "Greeter.", mentions: []string{`"Greeter."`}},
		{name: "empty", src: greeter, endpoint: "", mentions: []string{`""`}},
		{name: "message is not a service", src: greeter, endpoint: "greeter.v1.HelloRequest.Hello", wantErr: call.ErrServiceNotFound},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, err := call.FindMethod(testContext(t), tc.src, "greeter", tc.endpoint)
			if tc.want != "" {
				if err != nil {
					t.Fatalf("FindMethod(%q): %v", tc.endpoint, err)
				}
				if have := call.FullMethodName(method); have != tc.want {
					t.Fatalf("FindMethod(%q): want %s, have %s", tc.endpoint, tc.want, have)
				}
				return
			}
			if err == nil {
				t.Fatalf("FindMethod(%q): want an error, have %s", tc.endpoint, call.FullMethodName(method))
			}
			if tc.wantErr != nil && !errors.Is(err, tc.wantErr) {
				t.Errorf("FindMethod(%q): want %v, have %v", tc.endpoint, tc.wantErr, err)
			}
			for _, mention := range tc.mentions {
				if !strings.Contains(err.Error(), mention) {
					t.Errorf("FindMethod(%q): error %q does not mention %s", tc.endpoint, err, mention)
				}
			}
		})
	}
}

// TestProtoSourceKeepsComments checks that descriptions can show the
// comments of .proto files, and that protosets written from them keep them.
func TestProtoSourceKeepsComments(t *testing.T) {
	ctx := testContext(t)
	protoset, err := call.NewProtosetSource(writeGreeterProtoset(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []call.DescriptorSource{greeterProtoSource(t), protoset} {
		d, err := src.FindSymbol(ctx, "greeter.v1.Greeter.Hello")
		if err != nil {
			t.Fatal(err)
		}
		comments := d.ParentFile().SourceLocations().ByDescriptor(d).LeadingComments
		if !strings.Contains(comments, "Hello answers one request") {
			t.Errorf("%v: comments of Hello: have %q", src, comments)
		}
	}
}
