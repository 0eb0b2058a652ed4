package api

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/microtools/micro/pkg/call"
)

// connectError is Connect's JSON error.
type connectError struct {
	Code    string          `json:"code"`
	Message string          `json:"message,omitempty"`
	Details []connectDetail `json:"details,omitempty"`
}

// connectDetail is one error detail: its type without the URL prefix, its
// value in base64 without padding, and its JSON form for people.
type connectDetail struct {
	Type  string          `json:"type"`
	Value string          `json:"value"`
	Debug json.RawMessage `json:"debug,omitempty"`
}

func newConnectError(st *status.Status, resolver call.Resolver) *connectError {
	ce := &connectError{Code: ConnectCode(st.Code()), Message: st.Message()}
	var debug []json.RawMessage
	if len(st.Proto().GetDetails()) > 0 {
		debug = detailsJSON(st, resolver)
	}
	for i, d := range st.Proto().GetDetails() {
		typ := d.GetTypeUrl()
		if i := strings.LastIndex(typ, "/"); i >= 0 {
			typ = typ[i+1:]
		}
		cd := connectDetail{Type: typ, Value: base64.RawStdEncoding.EncodeToString(d.GetValue())}
		if i < len(debug) {
			cd.Debug = debug[i]
		}
		ce.Details = append(ce.Details, cd)
	}
	return ce
}

// writeConnectError answers a Connect unary call that failed.
func writeConnectError(w http.ResponseWriter, httpStatus int, st *status.Status, resolver call.Resolver) {
	writeJSON(w, httpStatus, newConnectError(st, resolver))
}

// serveConnect serves the Connect protocol on /{package.Service}/{Method}.
func (g *Gateway) serveConnect(w http.ResponseWriter, r *http.Request, fullService, method, ct string) {
	streaming := strings.HasPrefix(ct, "application/connect+")
	var codec string
	switch ct {
	case "application/json", "application/connect+json":
		codec = "json"
	case "application/proto", "application/connect+proto":
		codec = "proto"
	default:
		g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: sprintf("Content-Type %q: Connect takes application/json or application/proto (unary), application/connect+json or application/connect+proto (streams)", r.Header.Get("Content-Type")), HTTPStatus: http.StatusUnsupportedMediaType})
		return
	}
	if v := r.Header.Get("Connect-Protocol-Version"); v != "" && v != "1" {
		g.writeError(w, r, errorf(codes.InvalidArgument, "Connect-Protocol-Version %q: this gateway speaks version 1", v))
		return
	}
	info := infoOf(r.Context())
	ctx, cancel, err := g.callContext(r)
	if err != nil {
		g.connectFail(w, r, streaming, ct, err)
		return
	}
	defer cancel()
	t, err := g.resolveGRPC(ctx, fullService, method, r.Header.Get("Micro-Service"))
	if err != nil {
		g.connectFail(w, r, streaming, ct, err)
		return
	}
	info.service, info.endpoint = t.service, t.endpoint
	if t.method.IsStreamingClient() {
		g.connectFail(w, r, streaming, ct, unsupportedStreaming(t))
		return
	}
	if t.method.IsStreamingServer() != streaming {
		want := "application/json or application/proto"
		if t.method.IsStreamingServer() {
			want = "application/connect+json or application/connect+proto"
		}
		g.connectFail(w, r, streaming, ct, &Error{Code: codes.Unimplemented, Message: sprintf("%s is called with Content-Type %s", t.method.FullName(), want), HTTPStatus: http.StatusUnsupportedMediaType})
		return
	}
	var body []byte
	var buf *[]byte
	if !streaming {
		buf, body, err = g.readPooledBody(w, r, "Content-Encoding")
	} else {
		// Compression is per message, flagged in the envelope.
		buf, body, err = g.readPooledBody(w, r, "")
		if err == nil {
			body, err = readEnvelope(body, strings.ToLower(r.Header.Get("Connect-Content-Encoding")), g.opts.MaxBodyBytes)
			if err != nil {
				err = errorf(codes.InvalidArgument, "Connect request: %v", err)
			}
		}
	}
	defer g.releaseBody(buf)
	if err != nil {
		g.connectFail(w, r, streaming, ct, err)
		return
	}
	var req proto.Message
	if codec == "json" {
		req, err = g.parseJSONRequest(t, body)
	} else {
		req, err = g.parseProtoRequest(t, body)
	}
	if err != nil {
		g.connectFail(w, r, streaming, ct, err)
		return
	}
	encode := g.encoder(t.service, codec)
	md := g.requestMetadata(r.Header)

	if !streaming {
		var header, trailer metadata.MD
		var out []byte
		err = g.invoke(ctx, t, req, md, ResponseHandler{
			Header:  func(m metadata.MD) { header = m },
			Trailer: func(m metadata.MD) { trailer = m },
			Message: func(msg proto.Message) error {
				var err error
				out, err = encode(msg)
				return err
			},
		})
		g.copyMetadata(w.Header(), header, "")
		g.copyMetadata(w.Header(), trailer, "Trailer-")
		if err != nil {
			g.connectFail(w, r, false, ct, err)
			return
		}
		info.setCode(codes.OK, "")
		w.Header().Set("Content-Type", ct)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}

	// Server streaming: 200, the responses enveloped, then the end of the
	// stream with the error, if any, and the trailers.
	flusher := http.NewResponseController(w)
	var header, trailer metadata.MD
	started := false
	start := func() {
		if !started {
			started = true
			g.copyMetadata(w.Header(), header, "")
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(http.StatusOK)
		}
	}
	err = g.invoke(ctx, t, req, md, ResponseHandler{
		Header:  func(m metadata.MD) { header = m },
		Trailer: func(m metadata.MD) { trailer = m },
		Message: func(msg proto.Message) error {
			data, err := encode(msg)
			if err != nil {
				return err
			}
			start()
			if _, err := w.Write(appendEnvelope(nil, 0, data)); err != nil {
				return err
			}
			_ = flusher.Flush()
			return nil
		},
	})
	start()
	g.writeConnectEnd(w, r, t.service, err, trailer)
}

// connectFail answers an error in the Connect form the request's content
// type calls for.
func (g *Gateway) connectFail(w http.ResponseWriter, r *http.Request, streaming bool, ct string, err error) {
	if !streaming {
		g.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.WriteHeader(http.StatusOK)
	g.writeConnectEnd(w, r, infoOf(r.Context()).service, err, nil)
}

// writeConnectEnd writes the end-of-stream message of a Connect stream.
func (g *Gateway) writeConnectEnd(w http.ResponseWriter, r *http.Request, service string, err error, trailer metadata.MD) {
	end := struct {
		Error    *connectError       `json:"error,omitempty"`
		Metadata map[string][]string `json:"metadata,omitempty"`
	}{}
	info := infoOf(r.Context())
	if err != nil {
		st := statusOf(err)
		info.setCode(st.Code(), st.Message())
		end.Error = newConnectError(st, g.resolverFor(service))
	} else {
		info.setCode(codes.OK, "")
	}
	h := http.Header{}
	g.copyMetadata(h, trailer, "")
	if len(h) > 0 {
		end.Metadata = h
	}
	data, _ := json.Marshal(end)
	_, _ = w.Write(appendEnvelope(nil, flagEndStream, data))
}

// encoder writes responses of service in codec ("json" or "proto").
func (g *Gateway) encoder(service, codec string) func(proto.Message) ([]byte, error) {
	if codec == "json" {
		return g.jsonFormatter(service)
	}
	return func(msg proto.Message) ([]byte, error) { return proto.Marshal(msg) }
}
