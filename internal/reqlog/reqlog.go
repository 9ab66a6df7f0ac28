// Package reqlog ties log lines to the request they are about: a slog
// handler that adds the request id (internal/requestid) carried by the
// context of every *Context logging call.
package reqlog

import (
	"context"
	"log/slog"

	"github.com/authlab/authlab/internal/requestid"
)

// Key is the attribute naming the request id.
const Key = "request_id"

// Handler wraps h: a record logged with a context carrying a request id
// (requestid.With) gets a request_id attribute.
func Handler(h slog.Handler) slog.Handler {
	if _, ok := h.(handler); ok {
		return h
	}
	return handler{h}
}

// Logger returns l with its handler wrapped by Handler.
func Logger(l *slog.Logger) *slog.Logger { return slog.New(Handler(l.Handler())) }

type handler struct{ slog.Handler }

// Handle implements slog.Handler.
func (h handler) Handle(ctx context.Context, r slog.Record) error {
	if id := requestid.From(ctx); id != "" {
		r = r.Clone()
		r.AddAttrs(slog.String(Key, id))
	}
	return h.Handler.Handle(ctx, r)
}

// WithAttrs implements slog.Handler.
func (h handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return handler{h.Handler.WithAttrs(attrs)}
}

// WithGroup implements slog.Handler.
func (h handler) WithGroup(name string) slog.Handler {
	return handler{h.Handler.WithGroup(name)}
}
