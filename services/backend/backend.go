// Package backend is the demo backend service behind the gateway. It trusts
// nothing but the internal identity assertion (assertion.Header) the gateway
// signs: every /api/ request without a valid one is refused with 401, and
// roles are checked here, from the assertion alone. Client headers such as
// X-Authlab-User are never read.
package backend

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/reqlog"
	"github.com/authlab/authlab/internal/requestid"
)

// Config configures the backend.
type Config struct {
	// AssertionKey verifies the gateway's identity assertions; the gateway
	// must sign with the same key. At least 32 bytes.
	AssertionKey []byte
	// Now is the clock used for assertion expiry; nil means time.Now.
	Now func() time.Time
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	if len(c.AssertionKey) < 32 {
		return fmt.Errorf("assertion key: %d bytes, need at least 32", len(c.AssertionKey))
	}
	return nil
}

// New returns the backend's HTTP API:
//
//	GET /healthz          → 200 (no assertion needed)
//	GET /api/me           → {"user","roles"} from the assertion
//	GET /api/orders       → the caller's orders (role "user")
//	GET /api/admin/stats  → request counters (role "admin")
//
// Any /api/ request without a valid assertion gets 401, whatever its path;
// an unknown /api/ path then gets 404. Errors are JSON (apierr). logger may
// be nil.
//
// Every request keeps the X-Request-Id it came with (the gateway's), or
// gets a new one; the id is echoed on the response and carried by every
// log line about the request, including one debug-level line per request.
func New(cfg Config, logger *slog.Logger) (http.Handler, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("backend config: %w", err)
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = reqlog.Logger(logger)
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	v, err := assertion.NewVerifier(cfg.AssertionKey, now)
	if err != nil {
		return nil, fmt.Errorf("backend: %w", err)
	}
	s := &server{verifier: v, logger: logger, started: now(), now: now}

	api := http.NewServeMux()
	api.HandleFunc("GET /api/me", s.count(&s.stats.me, s.me))
	api.HandleFunc("GET /api/orders", s.count(&s.stats.orders, s.requireRole(identity.RoleUser, s.orders)))
	api.HandleFunc("GET /api/admin/stats", s.count(&s.stats.adminStats, s.requireRole(identity.RoleAdmin, s.adminStats)))
	for _, p := range []string{"/api/me", "/api/orders", "/api/admin/stats"} {
		api.HandleFunc(p, methodNotAllowed)
	}
	api.HandleFunc("/api/", s.count(&s.stats.notFound, notFound))

	root := http.NewServeMux()
	root.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	root.Handle("/api/", s.authenticate(api))
	root.HandleFunc("/", notFound)
	return s.observe(root), nil
}

// observe gives each request its id (a valid incoming X-Request-Id, else a
// new one), echoes it, and logs one debug line per request (debug: at
// benchmark rates an info line per request would cost more than the
// request).
func (s *server) observe(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := requestid.OrNew(r.Header.Get(requestid.Header))
		ctx := requestid.With(r.Context(), id)
		w.Header().Set(requestid.Header, id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		if s.logger.Enabled(ctx, slog.LevelDebug) {
			s.logger.LogAttrs(ctx, slog.LevelDebug, "request", slog.String("method", r.Method),
				slog.String("path", r.URL.Path), slog.Int("status", sw.status), slog.Duration("took", time.Since(start)))
		}
	})
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// tokenVerifier is what the backend needs from assertion.Verifier.
type tokenVerifier interface {
	Verify(tok string) (identity.Principal, error)
}

type server struct {
	verifier tokenVerifier
	logger   *slog.Logger
	started  time.Time
	now      func() time.Time
	stats    counters
}

type counters struct {
	total, unauthorized, forbidden   atomic.Int64
	me, orders, adminStats, notFound atomic.Int64
}

type principalKey struct{}

func principalFrom(ctx context.Context) identity.Principal {
	p, _ := ctx.Value(principalKey{}).(identity.Principal)
	return p
}

// authenticate admits only requests carrying a valid assertion; the
// principal goes into the request context.
func (s *server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.stats.total.Add(1)
		p, err := s.verifier.Verify(r.Header.Get(assertion.Header))
		if err != nil {
			s.stats.unauthorized.Add(1)
			s.logger.DebugContext(r.Context(), "assertion rejected", "path", r.URL.Path, "err", err)
			apierr.Write(w, http.StatusUnauthorized, apierr.CodeUnauthorized, "missing or invalid identity assertion")
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

func (s *server) requireRole(role string, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !principalFrom(r.Context()).HasRole(role) {
			s.stats.forbidden.Add(1)
			apierr.Write(w, http.StatusForbidden, apierr.CodeForbidden, "role "+role+" required")
			return
		}
		next(w, r)
	}
}

func (s *server) count(c *atomic.Int64, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.Add(1)
		next(w, r)
	}
}

func (s *server) me(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	if p.Roles == nil {
		p.Roles = []string{}
	}
	writeJSON(w, http.StatusOK, p)
}

// Order is one entry of GET /api/orders.
type Order struct {
	ID          string `json:"id"`
	Item        string `json:"item"`
	Quantity    int    `json:"quantity"`
	AmountCents int    `json:"amount_cents"`
}

// OrdersResponse is the body of GET /api/orders.
type OrdersResponse struct {
	User   string  `json:"user"`
	Orders []Order `json:"orders"`
}

var catalog = [...]struct {
	name  string
	cents int
}{
	{"keyboard", 4900}, {"mouse", 1900}, {"monitor", 18900}, {"cable", 900},
	{"headset", 5900}, {"webcam", 3900}, {"dock", 12900}, {"lamp", 2900},
}

// OrdersFor returns the deterministic demo orders of user: one to three
// orders derived from a hash of the name.
func OrdersFor(user string) []Order {
	h := fnv.New64a()
	_, _ = h.Write([]byte(user))
	x := h.Sum64()
	n := 1 + int(x%3)
	orders := make([]Order, n)
	for i := range orders {
		x = x*6364136223846793005 + 1442695040888963407 // LCG step
		c := catalog[(x>>33)%uint64(len(catalog))]
		q := 1 + int((x>>17)%3)
		orders[i] = Order{
			ID:          fmt.Sprintf("ord-%08x-%d", uint32(x>>32), i+1),
			Item:        c.name,
			Quantity:    q,
			AmountCents: q * c.cents,
		}
	}
	return orders
}

func (s *server) orders(w http.ResponseWriter, r *http.Request) {
	p := principalFrom(r.Context())
	writeJSON(w, http.StatusOK, OrdersResponse{User: p.User, Orders: OrdersFor(p.User)})
}

// Stats is the body of GET /api/admin/stats. Counters cover /api/ requests
// since start; Requests.Total includes rejected ones.
type Stats struct {
	UptimeSeconds float64 `json:"uptime_seconds"`
	Requests      struct {
		Total      int64 `json:"total"`
		Me         int64 `json:"me"`
		Orders     int64 `json:"orders"`
		AdminStats int64 `json:"admin_stats"`
		NotFound   int64 `json:"not_found"`
	} `json:"requests"`
	Rejected struct {
		Unauthorized int64 `json:"unauthorized"`
		Forbidden    int64 `json:"forbidden"`
	} `json:"rejected"`
}

func (s *server) adminStats(w http.ResponseWriter, _ *http.Request) {
	var st Stats
	st.UptimeSeconds = s.now().Sub(s.started).Seconds()
	st.Requests.Total = s.stats.total.Load()
	st.Requests.Me = s.stats.me.Load()
	st.Requests.Orders = s.stats.orders.Load()
	st.Requests.AdminStats = s.stats.adminStats.Load()
	st.Requests.NotFound = s.stats.notFound.Load()
	st.Rejected.Unauthorized = s.stats.unauthorized.Load()
	st.Rejected.Forbidden = s.stats.forbidden.Load()
	writeJSON(w, http.StatusOK, st)
}

func notFound(w http.ResponseWriter, _ *http.Request) {
	apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no such endpoint")
}

func methodNotAllowed(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Allow", "GET, HEAD")
	apierr.Write(w, http.StatusMethodNotAllowed, apierr.CodeBadRequest, "method "+r.Method+" not allowed, use GET")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v) // an error means the client went away
}
