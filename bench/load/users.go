package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/authlab/authlab/lb"
)

// user is one simulated client: its own cookie jar or bearer token, the
// instance that last served it, and a credential generation that grows at
// every (re-)login so that answers to requests sent with an older
// credential are not counted as a second loss.
type user struct {
	name      string
	cookies   map[string]string
	bearer    string
	refresh   string // refresh token of token strategies
	instance  string
	loggedIn  bool // has logged in at least once
	gen       int
	relogging bool
}

// headers returns the credential headers of u and their size in bytes
// (the values of Cookie and Authorization).
func (u *user) headers() (http.Header, int) {
	h := http.Header{}
	n := 0
	if len(u.cookies) > 0 {
		names := make([]string, 0, len(u.cookies))
		for k := range u.cookies {
			names = append(names, k)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, k := range names {
			parts[i] = k + "=" + u.cookies[k]
		}
		v := strings.Join(parts, "; ")
		h.Set("Cookie", v)
		n += len(v)
	}
	if u.bearer != "" {
		v := "Bearer " + u.bearer
		h.Set("Authorization", v)
		n += len(v)
	}
	return h, n
}

// mergeSetCookies applies Set-Cookie headers to u's jar (a deleted or
// expired cookie leaves the jar).
func (u *user) mergeSetCookies(h http.Header) {
	for _, c := range (&http.Response{Header: h}).Cookies() {
		if u.cookies == nil {
			u.cookies = map[string]string{}
		}
		if c.MaxAge < 0 || c.Value == "" || (!c.Expires.IsZero() && c.Expires.Before(time.Now())) {
			delete(u.cookies, c.Name)
			continue
		}
		u.cookies[c.Name] = c.Value
	}
}

// loginResponse is the gateway's POST /auth/login answer.
type loginResponse struct {
	User         string `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

// Credential is what a login hands back.
type Credential struct {
	// SetCookies holds the answer's headers, Set-Cookie among them.
	SetCookies http.Header
	// Bearer is the access token of token strategies ("" for cookies).
	Bearer string
	// Refresh is the refresh token of strategies that hand one out.
	Refresh string
	// Instance is the gateway that handled the login.
	Instance string
}

// Cookies returns the cookies the login set.
func (c Credential) Cookies() []*http.Cookie { return (&http.Response{Header: c.SetCookies}).Cookies() }

// Login posts the user's name and password to base+/auth/login with the
// client c (whose cookie jar, if any, keeps the cookies set), carrying the
// given headers (the lb pin cookie, so a sticky user keeps its pin).
func Login(ctx context.Context, c *http.Client, base, name, password string, h http.Header) (Credential, error) {
	body, _ := json.Marshal(map[string]string{"username": name, "password": password})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/auth/login", bytes.NewReader(body))
	if err != nil {
		return Credential{}, fmt.Errorf("login %s: %w", name, err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Del("Authorization")
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return Credential{}, fmt.Errorf("login %s: %w", name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Credential{}, fmt.Errorf("login %s: read: %w", name, err)
	}
	if resp.StatusCode != http.StatusOK {
		return Credential{}, fmt.Errorf("login %s: status %d: %s", name, resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var lr loginResponse
	if err := json.Unmarshal(b, &lr); err != nil {
		return Credential{}, fmt.Errorf("login %s: decode: %w", name, err)
	}
	return Credential{SetCookies: resp.Header, Bearer: lr.AccessToken, Refresh: lr.RefreshToken, Instance: resp.Header.Get(lb.InstanceHeader)}, nil
}
