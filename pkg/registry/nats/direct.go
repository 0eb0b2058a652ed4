package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Headers and statuses of JetStream's direct get (NATS 2.11+ for
// multi_last), as the server writes them.
const (
	directGetPrefix = "$JS.API.DIRECT.GET."
	hdrStatus       = "Status"
	hdrSubject      = "Nats-Subject"
	hdrNumPending   = "Nats-Num-Pending"
	hdrKVOperation  = "KV-Operation"
	hdrMarkerReason = "Nats-Marker-Reason"
	statusEOB       = "204"
	statusNoResults = "404"
)

// directLast reads the last record of every key under filter with one
// request: a direct get with multi_last, answered by a message per key and
// an end-of-batch status. It is a single round trip where a key watch needs
// a consumer created and deleted (three). ok is false when the server
// cannot answer that way (direct get off for the bucket, as its stream info
// said when it was opened, or "no responders" from a bucket not opened yet:
// direct gets off, no such bucket, or no JetStream; older than 2.11; more
// keys than one batch holds; any answer it does not expect); the caller
// then reads through a key watch, which works everywhere, opening the
// bucket first.
func (r *Registry) directLast(ctx context.Context, filter string) (records []*record, ok bool, err error) {
	if !r.mayReadDirect() {
		return nil, false, nil
	}
	req, err := directLastRequest(r.subject + filter)
	if err != nil {
		return nil, false, nil
	}
	inbox := r.nc.NewRespInbox()
	sub, err := r.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, false, nil
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := r.nc.PublishRequest(directGetPrefix+r.stream, inbox, req); err != nil {
		return nil, false, nil
	}
	now := time.Now()
	for {
		msg, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			if ctxErr := ctx.Err(); ctxErr != nil {
				return nil, true, fmt.Errorf("direct get: %w", ctxErr)
			}
			return nil, false, nil
		}
		switch msg.Header.Get(hdrStatus) {
		case "":
		case statusEOB:
			// Everything was sent only when nothing is left pending.
			if pending := msg.Header.Get(hdrNumPending); pending != "" && pending != "0" {
				return nil, false, nil
			}
			return records, true, nil
		case statusNoResults:
			return nil, true, nil
		default: // no responders (503), too many results (413), ...
			return nil, false, nil
		}
		if len(msg.Data) == 0 || msg.Header.Get(hdrKVOperation) != "" || msg.Header.Get(hdrMarkerReason) != "" {
			continue // a removal, or the marker of an expired record
		}
		key, found := strings.CutPrefix(msg.Header.Get(hdrSubject), r.subject)
		if !found {
			continue
		}
		rec, err := decodeEntry(key, msg.Data)
		if err != nil || !rec.liveAt(now) {
			continue // not ours, or expired: gone
		}
		records = append(records, rec)
	}
}

// directLastRequest is the body of a direct get of the last message of
// every subject under subject: {"multi_last":["<subject>"]}. It is written
// by hand: encoding/json would first build its encoder for the request's
// struct type, a cost every one-shot read would pay.
func directLastRequest(subject string) ([]byte, error) {
	quoted, err := json.Marshal(subject)
	if err != nil {
		return nil, err
	}
	return append(append([]byte(`{"multi_last":[`), quoted...), "]}"...), nil
}
