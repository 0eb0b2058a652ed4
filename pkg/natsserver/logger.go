package natsserver

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/nats-io/nats-server/v2/server"
)

var _ server.Logger = (*logger)(nil)

// logger adapts a *slog.Logger to the nats-server Logger interface. It never
// exits the process: Fatalf is logged as an error and remembered, so Start
// can return it.
type logger struct {
	log *slog.Logger // nil: discard

	mu        sync.Mutex
	fatalText string
}

func newLogger(log *slog.Logger) *logger { return &logger{log: log} }

func (l *logger) enabled(level slog.Level) bool {
	return l.log != nil && l.log.Enabled(context.Background(), level)
}

func (l *logger) emit(level slog.Level, format string, args []any) {
	if !l.enabled(level) {
		return
	}
	l.log.Log(context.Background(), level, fmt.Sprintf(format, args...))
}

// fatal returns the first fatal message, or "".
func (l *logger) fatal() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.fatalText
}

func (l *logger) Noticef(format string, v ...any) { l.emit(slog.LevelInfo, format, v) }
func (l *logger) Warnf(format string, v ...any)   { l.emit(slog.LevelWarn, format, v) }
func (l *logger) Errorf(format string, v ...any)  { l.emit(slog.LevelError, format, v) }
func (l *logger) Debugf(format string, v ...any)  { l.emit(slog.LevelDebug, format, v) }
func (l *logger) Tracef(format string, v ...any)  { l.emit(LevelTrace, format, v) }

func (l *logger) Fatalf(format string, v ...any) {
	l.mu.Lock()
	if l.fatalText == "" {
		l.fatalText = fmt.Sprintf(format, v...)
	}
	l.mu.Unlock()
	l.emit(slog.LevelError, format, v)
}
