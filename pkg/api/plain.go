package api

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
)

// mediaType is the media type of a Content-Type header, lower case.
func mediaType(header string) string {
	if header == "" || plainMediaType(header) {
		return header
	}
	mt, _, err := mime.ParseMediaType(header)
	if err != nil {
		return strings.ToLower(strings.TrimSpace(strings.Split(header, ";")[0]))
	}
	return mt
}

// plainMediaType tells whether a Content-Type header is a media type
// alone, in lower case, with no parameters ("application/json"): what
// mime.ParseMediaType would return it as, without its parsing.
func plainMediaType(header string) bool {
	slash := false
	for i := 0; i < len(header); i++ {
		switch c := header[i]; {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '.', c == '+', c == '_':
		case c == '/' && !slash && i > 0 && i < len(header)-1:
			slash = true
		default:
			return false
		}
	}
	return slash
}

// pathSegments splits a path as strings.Split(strings.Trim(path, "/"),
// "/") does, into at most four segments: the fourth, if any, is the rest.
func pathSegments(path string, seg *[4]string) []string {
	rest := strings.Trim(path, "/")
	n := 0
	for n < 3 {
		before, after, found := strings.Cut(rest, "/")
		seg[n] = before
		n++
		if !found {
			return seg[:n]
		}
		rest = after
	}
	seg[3] = rest
	return seg[:4]
}

// servePost routes a call by its Content-Type and path.
func (g *Gateway) servePost(w http.ResponseWriter, r *http.Request) {
	var buf [4]string
	segments := pathSegments(r.URL.Path, &buf)
	ct := mediaType(r.Header.Get("Content-Type"))
	info := infoOf(r.Context())
	switch {
	case strings.HasPrefix(ct, "application/grpc-web"):
		info.protocol = protocolGRPCWeb
		g.serveGRPCWeb(w, r, segments, ct)
	case ct == "application/grpc" || strings.HasPrefix(ct, "application/grpc+"):
		g.writeError(w, r, &Error{Code: codes.Unimplemented, Message: "native gRPC is not proxied: call the service directly (micro call), or use gRPC-Web or Connect here", HTTPStatus: http.StatusUnsupportedMediaType})
	case len(segments) == 2 && segments[1] != "" && !strings.Contains(segments[1], ".") &&
		(strings.Contains(segments[0], ".") || r.Header.Get("Connect-Protocol-Version") != "" || strings.HasPrefix(ct, "application/connect+")):
		info.protocol = protocolConnect
		g.serveConnect(w, r, segments[0], segments[1], ct)
	case len(segments) == 2 && segments[0] != "" && strings.Contains(segments[1], "."):
		info.protocol = protocolPlain
		g.servePlain(w, r, segments[0], segments[1], ct)
	case len(segments) == 3 && segments[0] != "" && segments[1] != "" && segments[2] != "":
		info.protocol = protocolPlain
		g.servePlain(w, r, segments[0], segments[1]+"."+segments[2], ct)
	default:
		g.writeError(w, r, errorf(codes.NotFound, "no route for POST %s: call POST /{service}/{Service.Method}, POST /{service}/{Service}/{Method} (JSON), or POST /{package.Service}/{Method} (Connect, gRPC-Web); GET / lists the services", r.URL.Path))
	}
}

// servePlain serves go-micro's routes: JSON in, JSON out; a server stream
// as NDJSON, or as Server-Sent Events when the client accepts them.
func (g *Gateway) servePlain(w http.ResponseWriter, r *http.Request, service, endpoint, ct string) {
	info := infoOf(r.Context())
	info.service, info.endpoint = service, endpoint
	if ct != "" && ct != "application/json" && !strings.HasSuffix(ct, "+json") && ct != "text/plain" {
		g.writeError(w, r, &Error{Code: codes.InvalidArgument, Message: sprintf("Content-Type %q: the go-micro routes take application/json (Connect: application/proto on /{package.Service}/{Method})", ct), HTTPStatus: http.StatusUnsupportedMediaType})
		return
	}
	ctx, cancel, err := g.callContext(r)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	defer cancel()
	t, err := g.resolvePlain(ctx, service, endpoint)
	if err != nil {
		// A service that is not registered is not counted per name: the
		// name came from the request.
		info.service, info.endpoint = "", ""
		g.writeError(w, r, err)
		return
	}
	buf, body, err := g.readPooledBody(w, r, "Content-Encoding")
	defer g.releaseBody(buf)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	md := g.requestMetadata(r.Header)
	if t.method == nil {
		g.serveEndpointCall(ctx, w, r, t, body, md)
		return
	}
	if t.method.IsStreamingClient() {
		g.writeError(w, r, unsupportedStreaming(t))
		return
	}
	req, err := g.parseJSONRequest(t, body)
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	if t.method.IsStreamingServer() {
		g.servePlainStream(ctx, w, r, t, req, md)
		return
	}

	format := g.jsonFormatter(t.service)
	var header, trailer metadata.MD
	var out []byte
	err = g.invoke(ctx, t, req, md, ResponseHandler{
		Header:  func(m metadata.MD) { header = m },
		Trailer: func(m metadata.MD) { trailer = m },
		Message: func(msg proto.Message) error {
			var err error
			out, err = format(msg)
			return err
		},
	})
	g.copyMetadata(w.Header(), header, "")
	g.copyMetadata(w.Header(), trailer, "Trailer-")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	info.setCode(codes.OK, "")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// servePlainStream writes a server stream as NDJSON (one response a line)
// or as Server-Sent Events (event "message" per response). An error before
// the first response is answered with its HTTP status; after it, as a last
// line {"error": {...}} (NDJSON) or an "error" event (SSE). The trailers
// are HTTP trailers.
func (g *Gateway) servePlainStream(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, req proto.Message, md metadata.MD) {
	sse := acceptsEventStream(r.Header.Get("Accept"))
	contentType := "application/x-ndjson"
	if sse {
		contentType = "text/event-stream"
	}
	format := g.jsonFormatter(t.service)
	flusher := http.NewResponseController(w)
	var header metadata.MD
	started := false
	start := func() {
		if started {
			return
		}
		started = true
		g.copyMetadata(w.Header(), header, "")
		w.Header().Set("Content-Type", contentType)
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Accel-Buffering", "no")
		w.Header().Set("Trailer", "Grpc-Status, Grpc-Message")
		w.WriteHeader(http.StatusOK)
	}
	var trailer metadata.MD
	count := 0
	err := g.invoke(ctx, t, req, md, ResponseHandler{
		Header:  func(m metadata.MD) { header = m },
		Trailer: func(m metadata.MD) { trailer = m },
		Message: func(msg proto.Message) error {
			data, err := format(msg)
			if err != nil {
				return err
			}
			start()
			count++
			var buf bytes.Buffer
			if sse {
				buf.WriteString("event: message\nid: ")
				buf.WriteString(itoa(count))
				buf.WriteString("\ndata: ")
				buf.Write(data)
				buf.WriteString("\n\n")
			} else {
				buf.Write(data)
				buf.WriteByte('\n')
			}
			if _, err := w.Write(buf.Bytes()); err != nil {
				return err
			}
			_ = flusher.Flush()
			return nil
		},
	})
	info := infoOf(r.Context())
	if err != nil && !started {
		g.copyMetadata(w.Header(), header, "")
		g.copyMetadata(w.Header(), trailer, "Trailer-")
		g.writeError(w, r, err)
		return
	}
	start()
	st := statusOf(err)
	if err == nil {
		info.setCode(codes.OK, "")
	} else {
		info.setCode(st.Code(), st.Message())
		body, _ := json.Marshal(map[string]errorBody{"error": {
			Code: int(st.Code()), Status: strings.ToUpper(ConnectCode(st.Code())), Message: st.Message(),
			Details: detailsJSON(st, g.resolverFor(t.service)),
		}})
		if sse {
			_, _ = w.Write([]byte("event: error\ndata: " + string(body) + "\n\n"))
		} else {
			_, _ = w.Write(append(body, '\n'))
		}
	}
	if sse {
		_, _ = w.Write([]byte("event: end\ndata: {}\n\n"))
	}
	w.Header().Set("Grpc-Status", itoa(int(st.Code())))
	if err != nil {
		w.Header().Set("Grpc-Message", st.Message())
	}
	g.copyMetadata(w.Header(), trailer, http.TrailerPrefix)
}

// serveEndpointCall calls an endpoint known from its registry record only
// (mucp), passing the JSON through.
func (g *Gateway) serveEndpointCall(ctx context.Context, w http.ResponseWriter, r *http.Request, t target, body []byte, md metadata.MD) {
	caller := g.opts.Client.(EndpointCaller) // checked by endpointTarget
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	out, header, err := caller.CallEndpoint(ctx, t.service, t.endpoint, body, md)
	g.copyMetadata(w.Header(), header, "")
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	infoOf(r.Context()).setCode(codes.OK, "")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(bytes.TrimRight(out, "\n"), '\n'))
}

// acceptsEventStream tells whether an Accept header asks for SSE.
func acceptsEventStream(accept string) bool {
	for _, part := range strings.Split(accept, ",") {
		if mediaType(strings.TrimSpace(part)) == "text/event-stream" {
			return true
		}
	}
	return false
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	neg := n < 0
	if neg {
		n = -n
	}
	for {
		i--
		buf[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	if neg {
		i--
		buf[i] = '-'
	}
	return string(buf[i:])
}
