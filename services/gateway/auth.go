package gateway

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/audit"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/requestid"
	"github.com/authlab/authlab/services/auth"
	"github.com/authlab/authlab/strategies"
)

// Error codes of the gateway's own answers (besides apierr's).
const (
	codeUnsupportedMediaType = "unsupported_media_type"
	codeTooManyRequests      = "too_many_requests"
)

// credentialError answers a strategy error: 401 for a missing or invalid
// credential, 503 for anything else (a store that cannot be reached).
func (g *Gateway) credentialError(c *gin.Context, err error) {
	switch {
	case errors.Is(err, strategies.ErrNoCredential):
		g.unauthorized(c, "no credential")
	case errors.Is(err, strategies.ErrInvalidCredential):
		g.unauthorized(c, "invalid, expired or revoked credential")
	default:
		g.log.WarnContext(c.Request.Context(), "credential store unavailable", "err", err)
		c.Header("Retry-After", "1")
		abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "credential store unavailable, retry later")
	}
}

func (g *Gateway) unauthorized(c *gin.Context, msg string) {
	if g.caps.Transport == strategies.TransportBearer {
		c.Header("WWW-Authenticate", `Bearer realm="authlab"`)
	}
	abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, msg)
}

// event starts an audit line about c's request.
func (g *Gateway) event(c *gin.Context, name string) audit.Event {
	return audit.Event{Event: name, Client: g.trust.clientAddr(c.Request), RequestID: requestid.From(c.Request.Context())}
}

// fingerprint is the short fingerprint of a credential, "" for none.
func (g *Gateway) fingerprint(raw string) string {
	if raw == "" {
		return ""
	}
	return g.fp.Short(raw)
}

type loginRequest struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type loginResponse struct {
	User         string   `json:"user"`
	Roles        []string `json:"roles"`
	AccessToken  string   `json:"access_token,omitempty"`
	TokenType    string   `json:"token_type,omitempty"`
	ExpiresIn    int64    `json:"expires_in,omitempty"`
	RefreshToken string   `json:"refresh_token,omitempty"`
}

// login checks, in order: the body, the account's throttle (before the
// password, so a locked account answers 429 whatever the password and is
// no oracle), the password, then issues the strategy's credential.
func (g *Gateway) login(c *gin.Context) {
	var req loginRequest
	if !decodeJSON(c, &req, false) {
		return
	}
	if req.Username == "" || req.Password == "" {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, `"username" and "password" are required`)
		return
	}
	if len(req.Username) > 256 || len(req.Password) > 1024 {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, "username or password too long")
		return
	}
	ctx := c.Request.Context()
	ev := g.event(c, audit.Login)
	ev.User = req.Username
	done := func(outcome, reason string) {
		ev.Outcome, ev.Reason = outcome, reason
		g.audit.Log(ctx, ev)
		g.metrics.logins.WithLabelValues(outcome).Inc()
	}

	wait, err := g.limiter.Attempt(ctx, req.Username)
	switch {
	case err != nil:
		g.metrics.limiterErrors.Inc()
		g.log.WarnContext(ctx, "login limiter unavailable; letting the attempt through", "err", err)
	case wait > 0:
		done(audit.OutcomeThrottled, "")
		c.Header("Retry-After", strconv.FormatInt(retryAfterSeconds(wait), 10))
		abort(c, http.StatusTooManyRequests, codeTooManyRequests, "too many failed logins for this account, retry later")
		return
	}

	p, err := g.cfg.Passwords.Verify(ctx, req.Username, req.Password)
	if err != nil {
		if errors.Is(err, auth.ErrInvalidLogin) {
			done(audit.OutcomeFailure, "wrong username or password")
			g.unauthorized(c, "wrong username or password")
			return
		}
		done(audit.OutcomeUnavailable, "auth service unavailable")
		g.log.WarnContext(ctx, "auth service unavailable", "err", err)
		abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "auth service unavailable, retry later")
		return
	}
	if err := g.limiter.Reset(ctx, req.Username); err != nil {
		g.metrics.limiterErrors.Inc()
		g.log.WarnContext(ctx, "login limiter unavailable; account count not reset", "err", err)
	}
	ev.User = p.User
	cred, err := g.cfg.Strategy.Login(ctx, p)
	if err != nil {
		done(audit.OutcomeUnavailable, "credential store unavailable")
		g.credentialError(c, err)
		return
	}
	ev.Credential = g.fingerprint(cred.Token)
	done(audit.OutcomeSuccess, "")
	g.transport.Write(c.Writer, cred)
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g.loginBody(p, cred))
}

// retryAfterSeconds rounds d up to whole seconds, at least 1.
func retryAfterSeconds(d time.Duration) int64 {
	return max(1, int64((d+time.Second-1)/time.Second))
}

func (g *Gateway) loginBody(p identity.Principal, cred strategies.Credential) loginResponse {
	resp := loginResponse{User: p.User, Roles: p.Roles}
	if g.caps.Transport == strategies.TransportBearer {
		resp.AccessToken = cred.Token
		resp.TokenType = "Bearer"
		if !cred.ExpiresAt.IsZero() {
			resp.ExpiresIn = int64(time.Until(cred.ExpiresAt).Round(time.Second) / time.Second)
		}
		resp.RefreshToken = cred.RefreshToken
	}
	return resp
}

func (g *Gateway) refresh(c *gin.Context) {
	r, ok := g.cfg.Strategy.(strategies.Refresher)
	if !ok || !g.caps.Refreshable {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "strategy "+g.cfg.Strategy.Name()+" has no refresh tokens")
		return
	}
	var req struct {
		RefreshToken string `json:"refresh_token"`
	}
	if !decodeJSON(c, &req, false) {
		return
	}
	if req.RefreshToken == "" {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, `"refresh_token" is required`)
		return
	}
	ctx := c.Request.Context()
	ev := g.event(c, audit.Refresh)
	if len(req.RefreshToken) > strategies.MaxCredentialLen {
		ev.Outcome, ev.Reason = audit.OutcomeInvalid, "refresh token too long"
		g.audit.Log(ctx, ev)
		g.metrics.refreshes.WithLabelValues(audit.OutcomeInvalid).Inc()
		g.unauthorized(c, "invalid refresh token")
		return
	}
	ev.Credential = g.fingerprint(req.RefreshToken)
	cred, p, err := r.Refresh(ctx, req.RefreshToken)
	ev.User = p.User
	switch {
	case err == nil:
		ev.Outcome = audit.OutcomeSuccess
	case errors.Is(err, strategies.ErrReused):
		// A spent refresh token came back: usually a stolen copy. The
		// strategy revoked the token's whole family: two lines, the
		// detection and the revocation.
		g.log.WarnContext(ctx, "refresh token reused; its family is revoked", "credential_fp", ev.Credential, "user", p.User)
		ev.Event, ev.Outcome = audit.RefreshReuse, audit.OutcomeReused
		g.audit.Log(ctx, ev)
		rev := ev
		rev.Event, rev.Outcome, rev.Reason = audit.Revocation, audit.OutcomeSuccess, "refresh token family revoked after reuse"
		g.audit.Log(ctx, rev)
	case errors.Is(err, strategies.ErrInvalidCredential), errors.Is(err, strategies.ErrNoCredential):
		ev.Outcome = audit.OutcomeInvalid
	default:
		ev.Outcome = audit.OutcomeUnavailable
	}
	if ev.Event == audit.Refresh {
		g.audit.Log(ctx, ev)
	}
	g.metrics.refreshes.WithLabelValues(ev.Outcome).Inc()
	if err != nil {
		g.credentialError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, g.loginBody(p, cred))
}

// logout invalidates the request's credential (if any) and tells the
// client to drop it. Its body must be empty or {}.
func (g *Gateway) logout(c *gin.Context) {
	if !decodeJSON(c, &struct{}{}, true) {
		return
	}
	ctx := c.Request.Context()
	ev := g.event(c, audit.Logout)
	raw := g.transport.Extract(c.Request)
	if raw == "" || len(raw) > strategies.MaxCredentialLen {
		ev.Outcome = audit.OutcomeNoCredential
		g.audit.Log(ctx, ev)
		g.metrics.logouts.WithLabelValues(ev.Outcome).Inc()
		g.transport.Clear(c.Writer)
		c.Status(http.StatusNoContent)
		return
	}
	ev.Credential = g.fingerprint(raw)
	// Whose credential it was, for the audit line (a revoked or unknown
	// one is still logged out: logout is idempotent).
	if p, err := g.cfg.Strategy.Authenticate(ctx, raw); err == nil {
		ev.User = p.User
	}
	if err := g.cfg.Strategy.Logout(ctx, raw); err != nil {
		ev.Outcome = audit.OutcomeUnavailable
		g.audit.Log(ctx, ev)
		g.metrics.logouts.WithLabelValues(ev.Outcome).Inc()
		g.credentialError(c, err)
		return
	}
	ev.Outcome = audit.OutcomeSuccess
	g.audit.Log(ctx, ev)
	g.metrics.logouts.WithLabelValues(ev.Outcome).Inc()
	g.transport.Clear(c.Writer)
	c.Status(http.StatusNoContent)
}
