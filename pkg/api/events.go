package api

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/microtools/micro/pkg/registry"
)

// eventHub passes the registry watch's events to the /events streams. A
// stream that cannot keep up is told to reload ("resync") instead of
// holding the watch back.
type eventHub struct {
	mu     sync.Mutex
	subs   map[chan *registry.Event]struct{}
	closed bool
}

func newEventHub() *eventHub { return &eventHub{subs: map[chan *registry.Event]struct{}{}} }

// subscribe returns a channel of events, closed when the hub closes or the
// subscriber falls behind, and a function to unsubscribe.
func (h *eventHub) subscribe() (<-chan *registry.Event, func()) {
	ch := make(chan *registry.Event, 64)
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		close(ch)
		return ch, func() {}
	}
	h.subs[ch] = struct{}{}
	return ch, func() {
		h.mu.Lock()
		defer h.mu.Unlock()
		if _, ok := h.subs[ch]; ok {
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *eventHub) publish(ev *registry.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for ch := range h.subs {
		select {
		case ch <- ev:
		default: // too slow: it resyncs
			delete(h.subs, ch)
			close(ch)
		}
	}
}

func (h *eventHub) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.closed = true
	for ch := range h.subs {
		delete(h.subs, ch)
		close(ch)
	}
}

// serveEvents streams the registry as Server-Sent Events: first a
// "services" event with every service (as GET / lists them), then one
// event per registry change, named by its type (create, update, delete),
// with the registry event as data; a comment every 15 s keeps proxies from
// closing the stream. When the stream falls behind, a "resync" event asks
// the client to reconnect.
func (g *Gateway) serveEvents(w http.ResponseWriter, r *http.Request) {
	infoOf(r.Context()).protocol = "sse"
	events, stop := g.events.subscribe()
	defer stop()
	list, err := g.services.listServices(r.Context())
	if err != nil {
		g.writeError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	flusher := http.NewResponseController(w)
	send := func(event string, v any) bool {
		data, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := w.Write([]byte("event: " + event + "\ndata: " + string(data) + "\n\n")); err != nil {
			return false
		}
		return flusher.Flush() == nil
	}
	if !send("services", indexOf(list)) {
		return
	}
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-g.ctx.Done():
			return
		case <-keepAlive.C:
			if _, err := w.Write([]byte(": keep-alive\n\n")); err != nil || flusher.Flush() != nil {
				return
			}
		case ev, ok := <-events:
			if !ok {
				send("resync", map[string]string{"reason": "the stream fell behind the registry or the gateway is stopping: reconnect"})
				return
			}
			if !send(string(ev.Type), ev) {
				return
			}
		}
	}
}
