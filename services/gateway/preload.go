package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/identity"
)

// Limits of POST /_admin/preload.
const (
	// MaxPreloadCount bounds one preload request.
	MaxPreloadCount = 1_000_000
	// MaxPreloadUser bounds the seeded user numbers a preload may name
	// (the auth service seeds at most 1.1 million).
	MaxPreloadUser = 1_100_000
	// preloadWorkers is how many logins run at once (each may wait for a
	// Redis round trip).
	preloadWorkers = 32
)

// PreloadRequest is the body of POST /_admin/preload.
type PreloadRequest struct {
	// First is the number of the first seeded user (identity.SeedUsername).
	First int `json:"first"`
	// Count is how many consecutive seeded users get a session.
	Count int `json:"count"`
	// Users, instead of First and Count, names the seeded users one by one.
	Users []int `json:"users"`
	// Tokens asks for the minted credentials in the answer, in user order.
	Tokens bool `json:"tokens"`
}

// user returns the number of the i-th user r names.
func (r PreloadRequest) user(i int) int {
	if r.Users != nil {
		return r.Users[i]
	}
	return r.First + i
}

// count returns how many users r names.
func (r PreloadRequest) count() int {
	if r.Users != nil {
		return len(r.Users)
	}
	return r.Count
}

// PreloadResult is the answer of POST /_admin/preload.
type PreloadResult struct {
	Minted     int      `json:"minted"`
	Failed     int      `json:"failed"`
	FirstError string   `json:"first_error,omitempty"`
	Seconds    float64  `json:"seconds"`
	Tokens     []string `json:"tokens,omitempty"`
	// Expires holds when each token stops being accepted (Unix seconds, 0
	// for no fixed expiry), beside Tokens.
	Expires []int64 `json:"expires,omitempty"`
}

// validate reports what is wrong with r.
func (r PreloadRequest) validate() error {
	if r.Users != nil {
		if r.First != 0 || r.Count != 0 {
			return errors.New("users: give either users or first and count")
		}
		if len(r.Users) < 1 || len(r.Users) > MaxPreloadCount {
			return fmt.Errorf("users: %d named, must be 1..%d", len(r.Users), MaxPreloadCount)
		}
		for _, u := range r.Users {
			if u < 1 || u > MaxPreloadUser {
				return fmt.Errorf("users: %d, must be 1..%d", u, MaxPreloadUser)
			}
		}
		return nil
	}
	switch {
	case r.First < 1:
		return fmt.Errorf("first: %d, must be ≥ 1", r.First)
	case r.Count < 1 || r.Count > MaxPreloadCount:
		return fmt.Errorf("count: %d, must be 1..%d", r.Count, MaxPreloadCount)
	case r.First+r.Count-1 > MaxPreloadUser:
		return fmt.Errorf("first+count-1: %d, at most %d", r.First+r.Count-1, MaxPreloadUser)
	}
	return nil
}

// preload mints sessions for seeded users without their passwords: the
// strategy's own Login, as POST /auth/login calls it once the auth service
// said yes, for principals {SeedUsername(i), [user]} (the roles the auth
// service gives its seeded users). It is how the harness puts a million
// sessions in place in seconds rather than half an hour of bcrypt; the
// sessions are the same as a login's, but no password is checked and no
// per-session audit line is written (one line for the whole preload).
// It exists only when Config.AllowPreload is set.
func (g *Gateway) preload(c *gin.Context) {
	if !g.cfg.AllowPreload {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "preload disabled (start the gateway with --allow-preload)")
		return
	}
	var req PreloadRequest
	if !decodeJSON(c, &req, false) {
		return
	}
	if err := req.validate(); err != nil {
		abort(c, http.StatusBadRequest, apierr.CodeBadRequest, "preload: "+err.Error())
		return
	}
	ctx := c.Request.Context()
	start := time.Now()
	res := g.mint(ctx, req)
	res.Seconds = time.Since(start).Seconds()
	g.log.WarnContext(ctx, "preloaded sessions without passwords (admin request)",
		"sessions", req.count(), "minted", res.Minted, "failed", res.Failed, "seconds", res.Seconds)
	c.JSON(http.StatusOK, res)
}

// mint logs users First..First+Count-1 in, preloadWorkers at a time.
func (g *Gateway) mint(ctx context.Context, req PreloadRequest) PreloadResult {
	var (
		next, minted atomic.Int64
		firstErr     error
		once         sync.Once
		wg           sync.WaitGroup
	)
	n := req.count()
	var (
		tokens  []string
		expires []int64
	)
	if req.Tokens {
		tokens, expires = make([]string, n), make([]int64, n)
	}
	roles := []string{identity.RoleUser}
	for range preloadWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				p := identity.Principal{User: identity.SeedUsername(req.user(i)), Roles: roles}
				cred, err := g.cfg.Strategy.Login(ctx, p)
				if err != nil {
					once.Do(func() { firstErr = err })
					continue
				}
				minted.Add(1)
				if tokens != nil {
					tokens[i] = cred.Token
					if !cred.ExpiresAt.IsZero() {
						expires[i] = cred.ExpiresAt.Unix()
					}
				}
			}
		}()
	}
	wg.Wait()
	// What was not minted failed, whether its Login failed or the request
	// was cancelled before it was tried.
	res := PreloadResult{Minted: int(minted.Load()), Tokens: tokens, Expires: expires}
	res.Failed = n - res.Minted
	if err := ctx.Err(); err != nil && firstErr == nil {
		firstErr = err
	}
	if firstErr != nil {
		// Store errors are logged in full; the body says only what kind.
		g.log.WarnContext(ctx, "preload: a login failed", "err", firstErr)
		res.FirstError = errorKind(firstErr)
	}
	return res
}

// errorKind names an error without addresses or internals.
func errorKind(err error) string {
	switch {
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "cancelled"
	default:
		return "credential store error"
	}
}
