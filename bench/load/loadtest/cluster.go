// Package loadtest is a test double of the lb and its gateways for tests
// of the load driver and the scenarios: no process, no Redis.
package loadtest

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/authlab/authlab/lb"
)

// Password is the password every user of a Cluster logs in with.
const Password = "pw"

// Cluster stands in for the lb and its gateways: cookie mode keeps
// sessions in each instance's memory behind a pin cookie (like sticky);
// bearer mode accepts a token on every instance (like jwt). Tokens are
// "tok-" + the user name, or, with SetAccessTTL, short-lived tokens with a
// single-use refresh token, exchanged at POST /auth/refresh as the
// gateway's jwt strategy does.
type Cluster struct {
	cookie bool

	accessTTL time.Duration
	tokens    map[string]issued // access token → its user and expiry
	refreshes map[string]string // unspent refresh token → user
	refreshed int

	mu        sync.Mutex
	instances []*fakeInstance
	rr        int
	seq       int
	logins    int
	storeDown bool
}

type issued struct {
	user    string
	expires time.Time
}

type fakeInstance struct {
	id       string
	alive    bool
	sessions map[string]string // session id → user
}

// NewCluster serves a Cluster of n instances, gw1…gwN, until t ends.
func NewCluster(t testing.TB, n int, cookie bool) (*Cluster, *httptest.Server) {
	c := &Cluster{cookie: cookie}
	for i := range n {
		c.instances = append(c.instances, &fakeInstance{id: fmt.Sprintf("gw%d", i+1), alive: true, sessions: map[string]string{}})
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

// SetAccessTTL makes bearer tokens expire ttl after they are issued and
// come with a refresh token (0: the fixed "tok-" tokens, never expiring).
func (c *Cluster) SetAccessTTL(ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.accessTTL = ttl
	c.tokens, c.refreshes = map[string]issued{}, map[string]string{}
}

// Refreshed returns how many refresh tokens were exchanged.
func (c *Cluster) Refreshed() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.refreshed
}

// issue answers a login or refresh of user in bearer mode.
func (c *Cluster) issue(w http.ResponseWriter, user string) {
	if c.accessTTL <= 0 {
		fmt.Fprintf(w, `{"user":%q,"access_token":"tok-%s"}`, user, user)
		return
	}
	c.seq++
	tok, rt := fmt.Sprintf("tok-%s-%d", user, c.seq), fmt.Sprintf("rt-%d", c.seq)
	c.tokens[tok] = issued{user: user, expires: time.Now().Add(c.accessTTL)}
	c.refreshes[rt] = user
	fmt.Fprintf(w, `{"user":%q,"access_token":%q,"refresh_token":%q,"expires_in":%d}`, user, tok, rt, int(c.accessTTL/time.Second))
}

// Kill takes instance id down; its sessions are gone.
func (c *Cluster) Kill(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.instances {
		if in.id == id {
			in.alive, in.sessions = false, map[string]string{}
		}
	}
}

// Revive brings instance id back, empty.
func (c *Cluster) Revive(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.instances {
		if in.id == id {
			in.alive = true
		}
	}
}

// SetStoreDown makes every instance answer 503 (its store unreachable).
func (c *Cluster) SetStoreDown(down bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.storeDown = down
}

// Sessions returns how many sessions instance i (0-based) holds.
func (c *Cluster) Sessions(i int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.instances[i].sessions)
}

func (c *Cluster) pick(w http.ResponseWriter, r *http.Request) *fakeInstance {
	if ck, err := r.Cookie("authlab_lb"); err == nil {
		for _, in := range c.instances {
			if in.id == ck.Value && in.alive {
				return in
			}
		}
	}
	for range c.instances {
		in := c.instances[c.rr%len(c.instances)]
		c.rr++
		if in.alive {
			http.SetCookie(w, &http.Cookie{Name: "authlab_lb", Value: in.id, Path: "/"})
			return in
		}
	}
	return nil
}

// ServeHTTP implements http.Handler.
func (c *Cluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.pick(w, r)
	if in == nil {
		http.Error(w, "no instance", http.StatusBadGateway)
		return
	}
	w.Header().Set(lb.InstanceHeader, in.id)
	if c.storeDown {
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/auth/") {
		// Like the gateway: state-changing auth endpoints take JSON only.
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			w.WriteHeader(http.StatusUnsupportedMediaType)
			return
		}
	}
	switch r.URL.Path {
	case "/auth/login":
		var body struct{ Username, Password string }
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Password != Password {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		c.logins++
		c.seq++
		if c.cookie {
			sid := fmt.Sprintf("s%d", c.seq)
			in.sessions[sid] = body.Username
			http.SetCookie(w, &http.Cookie{Name: "authlab_session", Value: sid, Path: "/"})
			fmt.Fprintf(w, `{"user":%q}`, body.Username)
			return
		}
		c.issue(w, body.Username)
	case "/auth/refresh":
		var body struct {
			RefreshToken string `json:"refresh_token"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		user, ok := c.refreshes[body.RefreshToken]
		if c.cookie || !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		delete(c.refreshes, body.RefreshToken)
		c.refreshed++
		c.issue(w, user)
	case "/api/me":
		user, ok := c.auth(in, r)
		if !ok {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"user":%q}`, user)
	case "/auth/logout":
		if ck, err := r.Cookie("authlab_session"); err == nil {
			delete(in.sessions, ck.Value)
		}
		w.WriteHeader(http.StatusNoContent)
	default:
		w.WriteHeader(http.StatusNotFound)
	}
}

func (c *Cluster) auth(in *fakeInstance, r *http.Request) (string, bool) {
	if c.cookie {
		ck, err := r.Cookie("authlab_session")
		if err != nil {
			return "", false
		}
		u, ok := in.sessions[ck.Value]
		return u, ok
	}
	if c.accessTTL > 0 {
		tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		is, ok := c.tokens[tok]
		if !ok || time.Now().After(is.expires) {
			return "", false
		}
		return is.user, true
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok-")
	return tok, ok
}
