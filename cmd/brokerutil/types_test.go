package brokerutil

import (
	"context"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// --type with a well-known type takes the type's own JSON form, as micro
// call does: through call.ParseJSON.
func TestEncodeWellKnownTypes(t *testing.T) {
	ctx := context.Background()
	flags := TypeFlags{Protos: []string{"greeter.proto"}, ImportPaths: []string{"../../examples/greeter/proto"}}
	types, err := flags.Load(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { types.Close() })
	cases := []struct {
		typ, body string
		want      proto.Message
	}{
		{"google.protobuf.StringValue", `"a"`, wrapperspb.String("a")},
		{"google.protobuf.Int64Value", `"7"`, wrapperspb.Int64(7)},
		{"google.protobuf.BoolValue", `true`, wrapperspb.Bool(true)},
		{"google.protobuf.Timestamp", `"2026-01-01T00:00:00Z"`, timestamppb.New(mustTime(t, "2026-01-01T00:00:00Z"))},
		{"google.protobuf.Duration", `"2s"`, durationpb.New(2e9)},
		{"google.protobuf.ListValue", `[1,"x"]`, mustList(t, 1, "x")},
	}
	for _, tc := range cases {
		t.Run(tc.typ, func(t *testing.T) {
			mt, err := types.Message(ctx, tc.typ)
			if err != nil {
				t.Fatal(err)
			}
			data, err := types.Encode(mt, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			have := tc.want.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(data, have); err != nil || !proto.Equal(have, tc.want) {
				t.Errorf("want %v, have %v (%v)", tc.want, have, err)
			}
		})
	}
}

func mustList(t *testing.T, values ...any) *structpb.ListValue {
	t.Helper()
	list, err := structpb.NewList(values)
	if err != nil {
		t.Fatal(err)
	}
	return list
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return at
}
