// Package codec turns values into bytes and back for the wire: JSON (protojson
// for protocol buffer messages, encoding/json for everything else), binary
// protocol buffers, and raw bytes passed through untouched.
//
// A Codec names itself twice: by a short name ("json", "proto", "raw"), which
// is also the gRPC content-subtype (application/grpc+json), and by a MIME
// content type, which the broker carries in its Content-Type header. A Table
// finds codecs by either; it is a value the caller builds and passes around,
// never a package-level registry:
//
//	codecs := codec.Default()
//	c, ok := codecs.ByContentType(msg.Header["Content-Type"])
//	if !ok {
//		return fmt.Errorf("no codec for content type %q", ct)
//	}
//	err := c.Unmarshal(msg.Body, &v)
//
// Every codec in this package also satisfies google.golang.org/grpc/encoding.Codec,
// so it can be handed to grpc.ForceCodec or grpc.ForceServerCodec.
package codec
