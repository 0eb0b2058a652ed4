package publish

import (
	"errors"
	"strings"
	"testing"

	"github.com/microtools/micro/internal/testenv"
	"github.com/microtools/micro/pkg/broker"
)

// TestStreamWithoutTheTopic: --stream naming a stream that does not store
// the topic says so, with what to do, and nothing is stored.
func TestStreamWithoutTheTopic(t *testing.T) {
	srv := testenv.NATS(t)
	fx := newFixture(t, "")
	fx.url = srv.URL()
	if err := fx.run(t, "", "jobs.run", `{"a":1}`, "--jetstream"); err != nil {
		t.Fatal(err)
	}
	err := fx.run(t, "", "jobs.other", `x`, "--jetstream", "--stream", "JOBS_RUN")
	if !errors.Is(err, broker.ErrNoStream) {
		t.Fatalf("want ErrNoStream, have %v", err)
	}
	for _, want := range []string{`stream "JOBS_RUN"`, `does not store topic "jobs.other" (its subjects: jobs.run)`, "give --stream the stream that stores jobs.other", "nats stream edit JOBS_RUN"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the error should say %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "broker.CreateStream") || strings.Contains(err.Error(), "does not exist") {
		t.Errorf("the error should not point at Go or say the stream is missing: %v", err)
	}
	if fx.stdout.Len() != 0 {
		t.Errorf("nothing was stored, so nothing on stdout: %q", fx.stdout)
	}
}
