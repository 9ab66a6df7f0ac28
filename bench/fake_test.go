package bench

import (
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeCluster stands in for the lb and its gateways: cookie mode keeps
// sessions in each instance's memory behind a pin cookie (like sticky);
// bearer mode accepts a token on every instance (like jwt).
type fakeCluster struct {
	cookie bool

	mu        sync.Mutex
	instances []*fakeInstance
	rr        int
	seq       int
	logins    int
	storeDown bool
}

type fakeInstance struct {
	id       string
	alive    bool
	sessions map[string]string // session id → user
}

func newFakeCluster(t *testing.T, n int, cookie bool) (*fakeCluster, *httptest.Server) {
	c := &fakeCluster{cookie: cookie}
	for i := range n {
		c.instances = append(c.instances, &fakeInstance{id: fmt.Sprintf("gw%d", i+1), alive: true, sessions: map[string]string{}})
	}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	return c, srv
}

func (c *fakeCluster) kill(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.instances {
		if in.id == id {
			in.alive, in.sessions = false, map[string]string{}
		}
	}
}

func (c *fakeCluster) revive(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, in := range c.instances {
		if in.id == id {
			in.alive = true
		}
	}
}

func (c *fakeCluster) pick(w http.ResponseWriter, r *http.Request) *fakeInstance {
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

func (c *fakeCluster) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := c.pick(w, r)
	if in == nil {
		http.Error(w, "no instance", http.StatusBadGateway)
		return
	}
	w.Header().Set(InstanceHeader, in.id)
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
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Password != "pw" {
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
		fmt.Fprintf(w, `{"user":%q,"access_token":"tok-%s"}`, body.Username, body.Username)
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

func (c *fakeCluster) auth(in *fakeInstance, r *http.Request) (string, bool) {
	if c.cookie {
		ck, err := r.Cookie("authlab_session")
		if err != nil {
			return "", false
		}
		u, ok := in.sessions[ck.Value]
		return u, ok
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer tok-")
	return tok, ok
}
