package gateway

import (
	"context"
	"crypto/subtle"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/strategies"
)

// readyz answers 503 when the strategy's store cannot be reached. The body
// names what failed, never the store's address or the raw error (logged).
func (g *Gateway) readyz(c *gin.Context) {
	if chk, ok := g.cfg.Strategy.(strategies.Checker); ok {
		ctx, cancel := context.WithTimeout(c.Request.Context(), 500*time.Millisecond)
		defer cancel()
		if err := chk.Check(ctx); err != nil {
			g.log.WarnContext(c.Request.Context(), "not ready: credential store unreachable", "err", err)
			c.Header("Retry-After", "1")
			abort(c, http.StatusServiceUnavailable, apierr.CodeUnavailable, "credential store unreachable")
			return
		}
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "instance": g.cfg.InstanceID})
}

func (g *Gateway) requireAdmin(c *gin.Context) {
	got := strings.TrimSpace(strings.TrimPrefix(c.GetHeader("Authorization"), "Bearer "))
	if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(g.cfg.AdminToken)) != 1 {
		abort(c, http.StatusUnauthorized, apierr.CodeUnauthorized, "admin token missing or wrong")
		return
	}
	c.Next()
}

// exit answers 202 and ends the process at once, without draining: the
// lb's kill for instances it did not start.
func (g *Gateway) exit(c *gin.Context) {
	if g.cfg.Exit == nil {
		abort(c, http.StatusNotFound, apierr.CodeNotFound, "exit endpoint disabled")
		return
	}
	g.log.WarnContext(c.Request.Context(), "exiting at once on admin request")
	c.JSON(http.StatusAccepted, gin.H{"status": "exiting", "instance": g.cfg.InstanceID})
	c.Writer.Flush()
	g.cfg.Exit(137)
}

// sessionCounter is implemented by strategies keeping sessions in memory
// (sticky).
type sessionCounter interface{ SessionCount() int }

// cacheStatser is implemented by strategies with a per-instance cache
// (opaque).
type cacheStatser interface {
	HitsMisses() (hits, misses uint64)
}

// cacheEvicter is implemented by strategies whose cache is bounded
// (opaque).
type cacheEvicter interface {
	CacheEvictions() uint64
}

// Stats is the body of GET /_admin/stats.
type Stats struct {
	Instance       string                  `json:"instance"`
	Strategy       string                  `json:"strategy"`
	Capabilities   strategies.Capabilities `json:"capabilities"`
	Sessions       *int                    `json:"sessions,omitempty"`
	CacheHits      *uint64                 `json:"cache_hits,omitempty"`
	CacheMisses    *uint64                 `json:"cache_misses,omitempty"`
	CacheEvictions *uint64                 `json:"cache_evictions,omitempty"`
}

func (g *Gateway) stats(c *gin.Context) {
	s := Stats{Instance: g.cfg.InstanceID, Strategy: g.cfg.Strategy.Name(), Capabilities: g.caps}
	if sc, ok := g.cfg.Strategy.(sessionCounter); ok {
		n := sc.SessionCount()
		s.Sessions = &n
	}
	if cs, ok := g.cfg.Strategy.(cacheStatser); ok {
		h, m := cs.HitsMisses()
		s.CacheHits, s.CacheMisses = &h, &m
	}
	if ce, ok := g.cfg.Strategy.(cacheEvicter); ok {
		e := ce.CacheEvictions()
		s.CacheEvictions = &e
	}
	c.JSON(http.StatusOK, s)
}
