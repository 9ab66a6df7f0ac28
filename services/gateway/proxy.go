package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/assertion"
	"github.com/authlab/authlab/internal/requestid"
	"github.com/authlab/authlab/strategies"
)

func newBackendTransport() *http.Transport {
	return &http.Transport{
		Proxy:                 nil, // never route loopback traffic through an env proxy
		DialContext:           (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		ForceAttemptHTTP2:     false,
	}
}

func (g *Gateway) authenticate(c *gin.Context) {
	raw := g.transport.Extract(c.Request)
	if len(raw) > strategies.MaxCredentialLen {
		g.metrics.authenticated(outcomeInvalid, 0)
		g.unauthorized(c, "credential too long")
		return
	}
	st := reqStateFrom(c.Request.Context())
	if st == nil { // not through observe (never on the data plane)
		st = &reqState{start: time.Now()}
		c.Request = c.Request.WithContext(withReqState(c.Request.Context(), st))
	}
	start := time.Now()
	p, err := g.cfg.Strategy.Authenticate(c.Request.Context(), raw)
	authnDone := time.Now()
	st.authn = authnDone.Sub(start)
	g.metrics.authenticated(authOutcome(err), st.authn)
	if err != nil {
		st.setServerTiming(c.Writer.Header(), st.refusedTiming(authnDone))
		g.credentialError(c, err)
		return
	}
	tok, err := g.cfg.Assertions.Issue(p)
	st.assert = time.Since(authnDone)
	if err != nil {
		g.log.ErrorContext(c.Request.Context(), "sign identity assertion", "err", err)
		abort(c, http.StatusInternalServerError, apierr.CodeInternal, "cannot sign identity assertion")
		return
	}
	st.assertion = tok
	c.Next()
}

func (g *Gateway) forward(c *gin.Context) {
	g.proxy.ServeHTTP(c.Writer, c.Request)
}

// identityHeaderPrefixes lists header prefixes a client could use to claim
// an identity, lower-case with '-' (names are normalised before matching:
// X_Authlab_User, x-remote_user and X-USER are all caught, since some
// servers read '_' and '-' alike).
var identityHeaderPrefixes = []string{
	"x-authlab-", "x-forwarded-user", "x-forwarded-email", "x-forwarded-groups",
	"x-forwarded-preferred-username", "x-remote-", "x-user", "x-auth-", "x-roles", "remote-user",
}

// hasNormalisedPrefix reports whether name, lower-cased and with '_' read
// as '-', starts with prefix (lower-case, '-' only). It does not allocate.
func hasNormalisedPrefix(name, prefix string) bool {
	if len(name) < len(prefix) {
		return false
	}
	for i := 0; i < len(prefix); i++ {
		c := name[i]
		switch {
		case c == '_':
			c = '-'
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if c != prefix[i] {
			return false
		}
	}
	return true
}

// isIdentityHeader reports whether name is one a client could use to claim
// an identity, or the client's own credential.
func isIdentityHeader(name string) bool {
	for _, p := range identityHeaderPrefixes {
		if hasNormalisedPrefix(name, p) {
			return true
		}
	}
	return len(name) == len("authorization") && hasNormalisedPrefix(name, "authorization") ||
		len(name) == len("cookie") && hasNormalisedPrefix(name, "cookie")
}

// StripIdentityHeaders removes every header a client could use to claim an
// identity, plus the client's own credential (the backend never needs it).
// Names are matched case-insensitively with '_' and '-' alike.
func StripIdentityHeaders(h http.Header) {
	for name := range h {
		if isIdentityHeader(name) {
			delete(h, name)
		}
	}
}

func (g *Gateway) rewrite(pr *httputil.ProxyRequest) {
	pr.SetURL(g.cfg.Backend)
	pr.Out.Host = g.cfg.Backend.Host
	StripIdentityHeaders(pr.Out.Header)
	st := reqStateFrom(pr.In.Context())
	if st != nil && st.assertion != "" {
		pr.Out.Header.Set(assertion.Header, st.assertion)
	}
	if id := requestid.From(pr.In.Context()); id != "" {
		pr.Out.Header.Set(requestid.Header, id)
	}
	pr.SetXForwarded()
	if st != nil {
		st.upstreamStart = time.Now() // the round trip starts now
	}
}

func (g *Gateway) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return // client went away
	}
	g.log.WarnContext(r.Context(), "backend unreachable", "path", r.URL.Path, "err", err)
	apierr.Write(w, http.StatusBadGateway, apierr.CodeBadGateway, "backend service unreachable")
}
