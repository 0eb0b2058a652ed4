package call_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/call"
)

// TestNewJSONParser: the parser made once per type reads as ParseJSON does,
// and still finds a proto2 required field unset, in the message itself or
// in one it holds.
func TestNewJSONParser(t *testing.T) {
	label := func(l descriptorpb.FieldDescriptorProto_Label) *descriptorpb.FieldDescriptorProto_Label { return &l }
	typ := func(t descriptorpb.FieldDescriptorProto_Type) *descriptorpb.FieldDescriptorProto_Type { return &t }
	fd, err := protodesc.NewFile(&descriptorpb.FileDescriptorProto{
		Name:    new("parser.proto"),
		Package: new("parser.v1"),
		Syntax:  new("proto2"),
		MessageType: []*descriptorpb.DescriptorProto{
			{Name: new("Inner"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: new("id"), JsonName: new("id"), Number: new(int32(1)), Label: label(descriptorpb.FieldDescriptorProto_LABEL_REQUIRED), Type: typ(descriptorpb.FieldDescriptorProto_TYPE_STRING)},
			}},
			{Name: new("Outer"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: new("inner"), JsonName: new("inner"), Number: new(int32(1)), Label: label(descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL), Type: typ(descriptorpb.FieldDescriptorProto_TYPE_MESSAGE), TypeName: new(".parser.v1.Inner")},
			}},
			{Name: new("Plain"), Field: []*descriptorpb.FieldDescriptorProto{
				{Name: new("name"), JsonName: new("name"), Number: new(int32(1)), Label: label(descriptorpb.FieldDescriptorProto_LABEL_OPTIONAL), Type: typ(descriptorpb.FieldDescriptorProto_TYPE_STRING)},
			}},
		},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		message, json string
		wantErr       bool
	}{
		{"Inner", `{"id": "a"}`, false},
		{"Inner", `{}`, true},
		{"Outer", `{"inner": {"id": "a"}}`, false},
		{"Outer", `{"inner": {}}`, true},
		{"Outer", `{}`, false},
		{"Plain", `{"name": "Ada"}`, false},
		{"Plain", `{"nmae": "Ada"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.message+" "+tt.json, func(t *testing.T) {
			md := fd.Messages().ByName(protoreflect.Name(tt.message))
			parse := call.NewJSONParser(md, nil)
			have := parse([]byte(tt.json), dynamicpb.NewMessage(md))
			want := call.ParseJSON([]byte(tt.json), dynamicpb.NewMessage(md), nil)
			if (have != nil) != tt.wantErr || (want != nil) != tt.wantErr {
				t.Fatalf("NewJSONParser: %v, ParseJSON: %v; want an error: %v", have, want, tt.wantErr)
			}
			var je *call.JSONError
			if have != nil && !errors.As(have, &je) {
				t.Errorf("error %v is not a *call.JSONError", have)
			}
		})
	}
}
