package nats

import (
	"encoding/json"
	"testing"
)

// The hand-written direct get request is what encoding/json writes for
// the request's struct.
func TestDirectLastRequest(t *testing.T) {
	for _, subject := range []string{"$KV.micro_registry.greeter.>", `$KV.b."quoted"\.>`, "$KV.b.ünïcode.*"} {
		have, err := directLastRequest(subject)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(struct {
			MultiLast []string `json:"multi_last"`
		}{[]string{subject}})
		if string(have) != string(want) {
			t.Errorf("%q: want %s, have %s", subject, want, have)
		}
	}
}
