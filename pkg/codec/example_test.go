package codec_test

import (
	"fmt"

	"google.golang.org/protobuf/types/known/apipb"

	"github.com/microtools/micro/pkg/codec"
)

// A table finds the codec for a message's Content-Type header, parameters,
// aliases and gRPC content-subtypes included.
func ExampleTable_ByContentType() {
	codecs := codec.Default()
	for _, ct := range []string{"application/json; charset=utf-8", "application/x-protobuf", "application/grpc+json", "text/csv"} {
		c, ok := codecs.ByContentType(ct)
		if !ok {
			fmt.Printf("%s: no codec\n", ct)
			continue
		}
		fmt.Printf("%s: %s\n", ct, c.Name())
	}
	// Output:
	// application/json; charset=utf-8: json
	// application/x-protobuf: proto
	// application/grpc+json: json
	// text/csv: no codec
}

// JSON uses protojson for proto messages and encoding/json for the rest.
func ExampleJSON() {
	c := codec.JSON{ProtoNames: true}

	data, _ := c.Marshal(&apipb.Method{Name: "Hello", RequestTypeUrl: "greeter.HelloRequest"})
	fmt.Println(string(data))

	data, _ = c.Marshal(map[string]int{"id": 7})
	fmt.Println(string(data))

	var m apipb.Method
	if err := c.Unmarshal([]byte(`{"name": "Chat", "requestStreaming": true}`), &m); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.GetName(), m.GetRequestStreaming())
	// Output:
	// {"name":"Hello","request_type_url":"greeter.HelloRequest"}
	// {"id":7}
	// Chat true
}

// The proto codec only takes messages, and says so.
func ExampleProto() {
	c := codec.Proto{}
	data, _ := c.Marshal(&apipb.Method{Name: "Hello"})
	fmt.Printf("%x\n", data)

	_, err := c.Marshal(map[string]int{"id": 7})
	fmt.Println(err)
	// Output:
	// 0a0548656c6c6f
	// proto codec: cannot marshal map[string]int: unsupported type: want a proto.Message
}
