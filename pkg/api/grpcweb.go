package api

import (
	"bytes"
	"encoding/base64"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// serveGRPCWeb serves gRPC-Web on /{package.Service}/{Method}: binary
// (application/grpc-web, +proto), JSON (+json) and base64 text
// (application/grpc-web-text), unary and server streaming. The status and
// trailers travel in a trailers frame at the end of the body, as the
// gRPC-Web protocol says; the HTTP status is 200 whenever a gRPC status was
// reached.
func (g *Gateway) serveGRPCWeb(w http.ResponseWriter, r *http.Request, segments []string, ct string) {
	text := strings.HasPrefix(ct, "application/grpc-web-text")
	codec := "proto"
	switch strings.TrimPrefix(strings.TrimPrefix(ct, "application/grpc-web-text"), "application/grpc-web") {
	case "", "+proto":
	case "+json":
		codec = "json"
	default:
		g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: sprintf("Content-Type %q: gRPC-Web takes application/grpc-web(+proto|+json) or application/grpc-web-text(+proto)", ct), HTTPStatus: http.StatusUnsupportedMediaType})
		return
	}
	if text && codec == "json" {
		g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: "application/grpc-web-text+json is not a gRPC-Web content type: use application/grpc-web+json", HTTPStatus: http.StatusUnsupportedMediaType})
		return
	}
	out := &grpcWebWriter{w: w, text: text, flusher: http.NewResponseController(w)}
	w.Header().Set("Content-Type", ct)
	if len(segments) != 2 || segments[0] == "" || segments[1] == "" {
		g.grpcWebEnd(w, r, out, "", errorf(codes.Unimplemented, "gRPC-Web calls POST /{package.Service}/{Method}, not %s", r.URL.Path), nil)
		return
	}
	ctx, cancel, err := g.callContext(r)
	if err != nil {
		g.grpcWebEnd(w, r, out, "", err, nil)
		return
	}
	defer cancel()
	info := infoOf(r.Context())
	t, err := g.resolveGRPC(ctx, segments[0], segments[1], r.Header.Get("Micro-Service"))
	if err != nil {
		g.grpcWebEnd(w, r, out, "", err, nil)
		return
	}
	info.service, info.endpoint = t.service, t.endpoint
	if t.method.IsStreamingClient() {
		g.grpcWebEnd(w, r, out, t.service, unsupportedStreaming(t), nil)
		return
	}
	buf, body, err := g.readPooledBody(w, r, "")
	defer g.releaseBody(buf)
	if err == nil && text {
		body, err = decodeBase64Chunks(body)
		if err != nil {
			err = errorf(codes.InvalidArgument, "gRPC-Web text body is not base64: %v", err)
		}
	}
	if err == nil {
		body, err = readEnvelope(body, strings.ToLower(r.Header.Get("Grpc-Encoding")), g.opts.MaxBodyBytes)
		if err != nil {
			err = errorf(codes.InvalidArgument, "gRPC-Web request: %v", err)
		}
	}
	var req proto.Message
	if err == nil {
		if codec == "json" {
			req, err = g.parseJSONRequest(t, body)
		} else {
			req, err = g.parseProtoRequest(t, body)
		}
	}
	if err != nil {
		g.grpcWebEnd(w, r, out, t.service, err, nil)
		return
	}
	encode := g.encoder(t.service, codec)
	var header, trailer metadata.MD
	err = g.invoke(ctx, t, req, g.requestMetadata(r.Header), ResponseHandler{
		Header:  func(m metadata.MD) { header = m },
		Trailer: func(m metadata.MD) { trailer = m },
		Message: func(msg proto.Message) error {
			data, err := encode(msg)
			if err != nil {
				return err
			}
			if !out.started {
				g.copyMetadata(w.Header(), header, "")
			}
			return out.frame(0, data, t.method.IsStreamingServer())
		},
	})
	if !out.started {
		g.copyMetadata(w.Header(), header, "")
	}
	g.grpcWebEnd(w, r, out, t.service, err, trailer)
}

// grpcWebEnd writes the trailers frame: grpc-status, grpc-message,
// grpc-status-details-bin and the trailer metadata.
func (g *Gateway) grpcWebEnd(w http.ResponseWriter, r *http.Request, out *grpcWebWriter, service string, err error, trailer metadata.MD) {
	st := status.New(codes.OK, "")
	if err != nil {
		st = statusOf(err)
	}
	infoOf(r.Context()).setCode(st.Code(), st.Message())
	h := http.Header{}
	g.copyMetadata(h, trailer, "")
	var buf bytes.Buffer
	buf.WriteString("grpc-status: " + itoa(int(st.Code())) + "\r\n")
	if st.Message() != "" {
		buf.WriteString("grpc-message: " + percentEncode(st.Message()) + "\r\n")
	}
	if len(st.Proto().GetDetails()) > 0 {
		if data, err := proto.Marshal(st.Proto()); err == nil {
			buf.WriteString("grpc-status-details-bin: " + base64.RawStdEncoding.EncodeToString(data) + "\r\n")
		}
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			buf.WriteString(strings.ToLower(k) + ": " + v + "\r\n")
		}
	}
	_ = out.frame(flagTrailers, buf.Bytes(), true)
}

// grpcWebWriter writes gRPC-Web frames, base64-encoded in text mode (each
// frame on its own, padded, as proxies do).
type grpcWebWriter struct {
	w       http.ResponseWriter
	text    bool
	started bool
	flusher *http.ResponseController
}

func (o *grpcWebWriter) frame(flags byte, payload []byte, flush bool) error {
	if !o.started {
		o.started = true
		o.w.WriteHeader(http.StatusOK)
	}
	data := appendEnvelope(nil, flags, payload)
	if o.text {
		data = []byte(base64.StdEncoding.EncodeToString(data))
	}
	if _, err := o.w.Write(data); err != nil {
		return err
	}
	if flush {
		_ = o.flusher.Flush()
	}
	return nil
}

// decodeBase64Chunks decodes base64 text that may be several padded chunks
// one after the other.
func decodeBase64Chunks(text []byte) ([]byte, error) {
	text = bytes.Join(bytes.Fields(text), nil)
	var out []byte
	for len(text) > 0 {
		end := len(text)
		if i := bytes.IndexByte(text, '='); i >= 0 {
			end = i
			for end < len(text) && text[end] == '=' {
				end++
			}
		}
		chunk := text[:end]
		text = text[end:]
		data, err := base64.StdEncoding.DecodeString(string(chunk))
		if err != nil {
			data, err = base64.RawStdEncoding.DecodeString(strings.TrimRight(string(chunk), "="))
			if err != nil {
				return nil, err
			}
		}
		out = append(out, data...)
	}
	return out, nil
}

// percentEncode encodes a grpc-message value as gRPC asks: printable ASCII
// but %, everything else as %XX.
func percentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c <= 0x7e && c != '%' {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(hex2(c)))
	}
	return b.String()
}

func hex2(c byte) string {
	const digits = "0123456789abcdef"
	return string([]byte{digits[c>>4], digits[c&0xf]})
}

// percentDecode undoes percentEncode, for tests and clients.
func percentDecode(s string) string {
	out, err := url.PathUnescape(s)
	if err != nil {
		return s
	}
	return out
}
