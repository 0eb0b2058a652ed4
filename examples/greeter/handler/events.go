package handler

import (
	"context"
	"errors"
	"log/slog"
	"time"

	greeterpb "github.com/microtools/micro/examples/greeter/proto"
)

// TopicGreeted is the topic of greeterpb.Greeted events.
const TopicGreeted = "greeter.greeted"

// Events handles the events the greeter subscribes to.
type Events struct {
	logger *slog.Logger
}

// NewEvents returns event handlers that log to logger; nil logs nothing.
func NewEvents(logger *slog.Logger) *Events {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return &Events{logger: logger}
}

// Greeted logs a Greeted event:
//
//	level=INFO msg="handled event" topic=greeter.greeted name=Ada at=2025-01-01T10:00:00Z
//
// An event without a name is an error.
func (e *Events) Greeted(ctx context.Context, ev *greeterpb.Greeted) error {
	if ev.GetName() == "" {
		return errors.New("greeted event without a name")
	}
	attrs := []any{"topic", TopicGreeted, "name", ev.GetName()}
	if ev.GetAt() != nil {
		attrs = append(attrs, "at", ev.GetAt().AsTime().Format(time.RFC3339Nano))
	}
	e.logger.InfoContext(ctx, "handled event", attrs...)
	return nil
}
