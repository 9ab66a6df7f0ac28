package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/identity"
)

// MaxBodyBytes bounds the body of POST /v1/verify.
const MaxBodyBytes = 8 << 10

// VerifyPath is the path of the password check.
const VerifyPath = "/v1/verify"

// VerifyRequest is the JSON body of POST /v1/verify.
type VerifyRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

// verifier is what the handler needs from a Directory.
type verifier interface {
	Verify(ctx context.Context, username, password string) (identity.Principal, error)
}

// NewHandler returns the auth service's HTTP API:
//
//	POST /v1/verify  {"username","password"} → 200 {"user","roles"}
//	                 wrong user or password → 401; bad body → 400
//	GET  /healthz    → 200
//
// Every error is a JSON body written with apierr.Write. logger may be nil.
func NewHandler(dir *Directory, logger *slog.Logger) http.Handler {
	return newHandler(dir, logger)
}

func newHandler(dir verifier, logger *slog.Logger) http.Handler {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	h := &handler{dir: dir, logger: logger}
	mux := http.NewServeMux()
	mux.HandleFunc("POST "+VerifyPath, h.verify)
	mux.HandleFunc(VerifyPath, methodNotAllowed(http.MethodPost))
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("/healthz", methodNotAllowed(http.MethodGet, http.MethodHead))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		apierr.Write(w, http.StatusNotFound, apierr.CodeNotFound, "no such endpoint")
	})
	return mux
}

type handler struct {
	dir    verifier
	logger *slog.Logger
}

func (h *handler) verify(w http.ResponseWriter, r *http.Request) {
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest,
				fmt.Sprintf("body larger than %d bytes", MaxBodyBytes))
			return
		}
		apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, "could not read body")
		return
	}
	req, err := decodeVerifyRequest(data)
	if err != nil {
		apierr.Write(w, http.StatusBadRequest, apierr.CodeBadRequest, err.Error())
		return
	}
	p, err := h.dir.Verify(r.Context(), req.Username, req.Password)
	switch {
	case errors.Is(err, ErrInvalidLogin):
		h.logger.Debug("verify rejected", "user", req.Username)
		apierr.Write(w, http.StatusUnauthorized, apierr.CodeUnauthorized, "invalid username or password")
		return
	case err != nil:
		h.logger.Warn("verify failed", "user", req.Username, "err", err)
		apierr.Write(w, http.StatusServiceUnavailable, apierr.CodeUnavailable, "verification not completed")
		return
	}
	if p.Roles == nil {
		p.Roles = []string{}
	}
	writeJSON(w, http.StatusOK, p)
}

// decodeVerifyRequest parses exactly one JSON object with a non-empty
// username and password and no unknown fields. Its errors are safe to show
// to the client.
func decodeVerifyRequest(data []byte) (VerifyRequest, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var req VerifyRequest
	if err := dec.Decode(&req); err != nil {
		return VerifyRequest{}, fmt.Errorf("malformed JSON body: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return VerifyRequest{}, errors.New("malformed JSON body: data after the object")
	}
	switch {
	case req.Username == "":
		return VerifyRequest{}, errors.New("username: required")
	case req.Password == "":
		return VerifyRequest{}, errors.New("password: required")
	}
	return req, nil
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func methodNotAllowed(allowed ...string) http.HandlerFunc {
	allow := ""
	for i, m := range allowed {
		if i > 0 {
			allow += ", "
		}
		allow += m
	}
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allow)
		apierr.Write(w, http.StatusMethodNotAllowed, apierr.CodeBadRequest, "method "+r.Method+" not allowed, use "+allow)
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
