package lb

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/requestid"
)

// AdminHandler is the admin plane (served by ServeAdmin):
//
//	GET  /healthz                 200 while the process runs
//	GET  /readyz                  200 once started with a routable instance, else 503
//	GET  /metrics                 Prometheus metrics
//	     /_lb/...                 the admin API (see apiHandler), bearer admin token
//
// Its answers carry X-Request-Id too. A request with a body is answered
// and its connection closed: no admin endpoint reads a body.
func (l *LB) AdminHandler() http.Handler { return l.admin }

func (l *LB) adminHandler() http.Handler {
	api := l.apiHandler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reqID := requestid.OrNew(r.Header.Get(requestid.Header))
		w.Header().Set(requestid.Header, reqID)
		r = r.WithContext(requestid.With(r.Context(), reqID))
		if r.ContentLength != 0 {
			// Not read: close rather than drain it without a deadline.
			w.Header().Set("Connection", "close")
		}
		switch p := r.URL.Path; {
		case p == "/_lb" || strings.HasPrefix(p, "/_lb/"):
			api.ServeHTTP(w, r)
		case p == "/metrics":
			l.metrics.ServeHTTP(w, r)
		case p == "/healthz":
			writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
		case p == "/readyz":
			l.readyz(w)
		default:
			apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no admin endpoint "+p)
		}
	})
}

// readyz answers 200 once the instances were started and one of them is
// routable, else 503 saying which of the two is missing.
func (l *LB) readyz(w http.ResponseWriter) {
	if !l.ready() {
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "load balancer starting")
		return
	}
	n := 0
	for _, in := range l.insts {
		if in.routable() {
			n++
		}
	}
	if n == 0 {
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "no healthy instance")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "ready", "routable": n, "instances": len(l.insts)})
}

// apiHandler serves the admin API under /_lb/, guarded by the admin token:
//
//	GET  /_lb/instances
//	GET  /_lb/instances/{id}
//	POST /_lb/instances/{id}/kill?mode=sigkill|drain|freeze
//	POST /_lb/instances/{id}/revive
//	GET  /_lb/events[?since=SEQ]
//	GET  /_lb/retry
//	POST /_lb/retry?enabled=true|false
func (l *LB) apiHandler() http.Handler {
	want := []byte("Bearer " + l.cfg.AdminToken)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="authlab-lb"`)
			apierr.Write(w, http.StatusUnauthorized, apierr.CodeUnauthorized, "admin token missing or wrong")
			return
		}
		if !l.ready() {
			apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "load balancer starting")
			return
		}
		parts := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/_lb"), "/"), "/")
		switch {
		case len(parts) == 1 && parts[0] == "instances":
			if !method(w, r, http.MethodGet) {
				return
			}
			writeJSON(w, http.StatusOK, l.Instances())
		case len(parts) == 1 && parts[0] == "events":
			if !method(w, r, http.MethodGet) {
				return
			}
			var since uint64
			if s := r.URL.Query().Get("since"); s != "" {
				v, err := strconv.ParseUint(s, 10, 64)
				if err != nil {
					apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, "since must be an event sequence number")
					return
				}
				since = v
			}
			writeJSON(w, http.StatusOK, l.Events(since))
		case len(parts) == 1 && parts[0] == "retry":
			l.retryEndpoint(w, r)
		case len(parts) == 2 && parts[0] == "instances":
			if !method(w, r, http.MethodGet) {
				return
			}
			info, err := l.Instance(parts[1])
			l.reply(w, r, http.StatusOK, info, err)
		case len(parts) == 3 && parts[0] == "instances" && parts[2] == "kill":
			if !method(w, r, http.MethodPost) {
				return
			}
			mode := r.URL.Query().Get("mode")
			if mode == "" {
				mode = ModeSIGKILL
			}
			info, err := l.Kill(r.Context(), parts[1], mode)
			status := http.StatusOK
			if mode == ModeDrain {
				status = http.StatusAccepted
			}
			l.reply(w, r, status, info, err)
		case len(parts) == 3 && parts[0] == "instances" && parts[2] == "revive":
			if !method(w, r, http.MethodPost) {
				return
			}
			info, err := l.Revive(r.Context(), parts[1])
			l.reply(w, r, http.StatusOK, info, err)
		default:
			apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no admin endpoint "+r.URL.Path)
		}
	})
}

// retryEndpoint reads (GET) or switches (POST ?enabled=true|false) the
// retry of failed requests; both answer {"retry": bool}.
func (l *LB) retryEndpoint(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
	case http.MethodPost:
		on, err := strconv.ParseBool(r.URL.Query().Get("enabled"))
		if err != nil {
			apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, "enabled must be true or false")
			return
		}
		l.SetRetry(on)
	default:
		w.Header().Set("Allow", "GET, POST")
		apierr.Write(w, http.StatusMethodNotAllowed, apierr.CodeBadRequest, "use GET or POST")
		return
	}
	writeJSON(w, http.StatusOK, map[string]bool{"retry": l.RetryEnabled()})
}

// reply writes v with status, or err mapped to a 4xx/5xx JSON error. A
// failure of the lb's own (5xx) is logged with its details and answered
// without them.
func (l *LB) reply(w http.ResponseWriter, r *http.Request, status int, v any, err error) {
	switch {
	case err == nil:
		writeJSON(w, status, v)
	case errors.Is(err, ErrNotFound):
		apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, err.Error())
	case errors.Is(err, ErrBadMode), errors.Is(err, ErrNoAdmin):
		apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, err.Error())
	case errors.Is(err, ErrStopping):
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, err.Error())
	case errors.Is(err, ErrConflict):
		apierr.Write(w, http.StatusConflict, apierr.CodeConflict, err.Error())
	default:
		id := requestid.From(r.Context())
		l.log.Error("admin operation failed", "request_id", id, "path", r.URL.Path, "err", err)
		apierr.Write(w, http.StatusInternalServerError, apierr.CodeInternal,
			"operation failed; the lb's log has the details (request id "+id+")")
	}
}

func method(w http.ResponseWriter, r *http.Request, m string) bool {
	if r.Method == m {
		return true
	}
	w.Header().Set("Allow", m)
	apierr.Write(w, http.StatusMethodNotAllowed, apierr.CodeBadRequest, "use "+m)
	return false
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
