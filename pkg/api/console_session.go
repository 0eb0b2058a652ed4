package api

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/microtools/micro/pkg/call"
)

// sessionTimeout bounds a client or bidi stream opened from the console
// when the request names no limit: long enough to type the messages.
const sessionTimeout = 5 * time.Minute

// sessionKeep is how long the events of a finished session stay readable.
const sessionKeep = time.Minute

// A session is a client or bidi stream opened from the console: the
// browser sends its messages one at a time (POST .../send), half-closes
// (POST .../close) and reads the events (GET .../events, Server-Sent
// Events) — which works over plain HTTP/1.1, where a browser cannot
// stream a request body.
type session struct {
	id      string
	target  target
	in      chan proto.Message
	closeIn sync.Once
	cancel  context.CancelFunc

	mu     sync.Mutex
	events []consoleEvent
	notify chan struct{} // closed and replaced on each event
	done   bool
	sent   int
}

func (s *session) emit(ev consoleEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.events = append(s.events, ev)
	if ev.Event == "end" {
		s.done = true
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

// since returns the events from index i on, whether the session is done,
// and a channel closed on the next event.
func (s *session) since(i int) ([]consoleEvent, bool, <-chan struct{}) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []consoleEvent
	if i < len(s.events) {
		out = append(out, s.events[i:]...)
	}
	return out, s.done, s.notify
}

// openSession starts a client or bidi stream: POST /ui/api/sessions with
// {service, endpoint, metadata, timeoutMs} answers {"id": ...}.
func (c *console) openSession(w http.ResponseWriter, r *http.Request) {
	in, t, err := c.readCall(w, r)
	if err != nil {
		c.g.writeError(w, r, err)
		return
	}
	if t.method == nil || !t.method.IsStreamingClient() {
		c.g.writeError(w, r, errorf(codes.InvalidArgument, "%s/%s does not stream requests: call it with POST /ui/api/call", in.Service, in.Endpoint))
		return
	}
	if _, ok := c.g.opts.Client.(StreamInvoker); !ok {
		c.g.writeError(w, r, unsupportedStreaming(t))
		return
	}
	c.mu.Lock()
	if len(c.sessions) >= c.opts.MaxSessions {
		c.mu.Unlock()
		c.g.writeError(w, r, errorf(codes.ResourceExhausted, "%d console streams are open, the most this gateway allows: close one", c.opts.MaxSessions))
		return
	}
	var raw [12]byte
	_, _ = rand.Read(raw[:])
	s := &session{id: hex.EncodeToString(raw[:]), target: t, in: make(chan proto.Message), notify: make(chan struct{})}
	c.sessions[s.id] = s
	c.mu.Unlock()

	// The stream outlives this request: it runs on the gateway's context.
	ctx, cancel := context.WithTimeout(c.g.ctx, c.callTimeout(in.TimeoutMillis, max(sessionTimeout, c.g.opts.Timeout)))
	s.cancel = cancel
	md := c.metadataOf(in.Metadata)
	requests := func(protoreflect.MessageType) (proto.Message, error) {
		select {
		case msg, ok := <-s.in:
			if !ok {
				return nil, io.EOF
			}
			return msg, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	c.g.wg.Add(1)
	go func() {
		defer c.g.wg.Done()
		defer cancel()
		c.runCall(ctx, t, call.RequestSupplier(requests), nil, md, s.emit)
		time.AfterFunc(sessionKeep, func() {
			c.mu.Lock()
			delete(c.sessions, s.id)
			c.mu.Unlock()
		})
	}()
	writeJSON(w, http.StatusOK, map[string]string{"id": s.id})
}

// serveSession serves GET .../{id}/events, POST .../{id}/send,
// POST .../{id}/close and DELETE .../{id}.
func (c *console) serveSession(w http.ResponseWriter, r *http.Request, parts []string) {
	c.mu.Lock()
	s := c.sessions[parts[0]]
	c.mu.Unlock()
	if s == nil {
		c.g.writeError(w, r, errorf(codes.NotFound, "no console stream %q (it ended more than %s ago, or never was)", parts[0], sessionKeep))
		return
	}
	infoOf(r.Context()).service, infoOf(r.Context()).endpoint = s.target.service, s.target.endpoint
	action := ""
	if len(parts) > 1 {
		action = parts[1]
	}
	switch r.Method + " " + action {
	case "GET events":
		c.sessionEvents(w, r, s)
	case "POST send":
		body, err := c.g.readBody(w, r, "")
		if err != nil {
			c.g.writeError(w, r, err)
			return
		}
		msg := dynamicpb.NewMessage(s.target.method.Input())
		if err := call.ParseJSON(body, msg, c.g.resolverFor(s.target.service)); err != nil {
			c.g.writeError(w, r, errorf(codes.InvalidArgument, "message for %s: %v", s.target.method.Input().FullName(), err))
			return
		}
		select {
		case s.in <- msg:
			s.mu.Lock()
			s.sent++
			n := s.sent
			s.mu.Unlock()
			writeJSON(w, http.StatusOK, map[string]int{"sent": n})
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
			c.g.writeError(w, r, errorf(codes.DeadlineExceeded, "the stream took no message for 10s: it has ended or the service is not reading"))
		}
	case "POST close":
		s.closeIn.Do(func() { close(s.in) })
		writeJSON(w, http.StatusOK, map[string]bool{"closed": true})
	case "DELETE ":
		s.cancel()
		writeJSON(w, http.StatusOK, map[string]bool{"cancelled": true})
	default:
		c.g.writeError(w, r, errorf(codes.NotFound, "no console stream action %s %s", r.Method, action))
	}
}

// sessionEvents streams a session's events as Server-Sent Events (event
// name = the event), from the first, until it ends.
func (c *console) sessionEvents(w http.ResponseWriter, r *http.Request, s *session) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher := http.NewResponseController(w)
	next := 0
	for {
		events, done, wait := s.since(next)
		for _, ev := range events {
			data, _ := json.Marshal(ev)
			if _, err := w.Write([]byte("event: " + ev.Event + "\ndata: " + string(data) + "\n\n")); err != nil {
				return
			}
		}
		next += len(events)
		_ = flusher.Flush()
		if done {
			return
		}
		select {
		case <-wait:
		case <-r.Context().Done():
			return
		case <-c.g.ctx.Done():
			return
		}
	}
}
