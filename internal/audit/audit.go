// Package audit writes the security audit trail: one JSON line per
// security event (login, logout, refresh, refresh-token reuse, revocation).
//
// A line never holds a raw credential: only a short HMAC fingerprint of it
// (strategies.Fingerprinter.Short), which correlates lines with each other
// and with the strategies' own logs but cannot be replayed.
package audit

import (
	"context"
	"io"
	"log/slog"
)

// Event names.
const (
	Login        = "login"
	Logout       = "logout"
	Refresh      = "refresh"
	RefreshReuse = "refresh_reuse"
	Revocation   = "revocation"
)

// Outcomes shared by several events.
const (
	OutcomeSuccess      = "success"
	OutcomeFailure      = "failure"
	OutcomeThrottled    = "throttled"
	OutcomeUnavailable  = "unavailable"
	OutcomeInvalid      = "invalid"
	OutcomeReused       = "reused"
	OutcomeNoCredential = "no_credential"
)

// Event is one audit line. Empty optional fields are left out.
type Event struct {
	// Event is one of the event names above.
	Event string
	// User is the account concerned (as typed by the client for a failed
	// login; empty when unknown).
	User string
	// Client is the client's address (the TCP peer, or the address a
	// trusted proxy forwarded).
	Client string
	// Credential is the short fingerprint of the credential presented or
	// issued (empty when none).
	Credential string
	// RequestID is the request's X-Request-Id.
	RequestID string
	// Outcome says how it ended (success, failure, throttled, …).
	Outcome string
	// Reason adds detail where an outcome needs one (optional).
	Reason string
}

// Logger writes audit lines. It is safe for concurrent use (each line is
// one Write).
type Logger struct {
	l *slog.Logger
}

// New returns a Logger writing JSON lines to w, each carrying instance.
// A nil w discards every line.
func New(w io.Writer, instance string) *Logger {
	if w == nil {
		return &Logger{l: slog.New(slog.DiscardHandler)}
	}
	return &Logger{l: slog.New(slog.NewJSONHandler(w, nil)).With("instance", instance)}
}

// Log writes e as one line.
func (a *Logger) Log(ctx context.Context, e Event) {
	attrs := make([]slog.Attr, 0, 8)
	attrs = append(attrs,
		slog.String("event", e.Event),
		slog.String("user", e.User),
		slog.String("client_addr", e.Client),
		slog.String("outcome", e.Outcome),
		slog.String("request_id", e.RequestID),
	)
	if e.Credential != "" {
		attrs = append(attrs, slog.String("credential_fp", e.Credential))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	a.l.LogAttrs(ctx, slog.LevelInfo, "audit", attrs...)
}
