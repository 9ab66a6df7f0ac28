package load

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math"
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
	// expires is when the access token stops being accepted (zero when
	// unknown or not a token); refreshing is set while a refresh-ahead
	// runs, and refreshFailedGen is the credential generation whose
	// refresh failed (not retried: its next 401 leads to a re-login).
	expires          time.Time
	refreshing       bool
	refreshFailedGen int
}

// install makes cred u's credential: its cookies, token, refresh token,
// expiry and instance, as a new generation.
func (u *user) install(cred Credential) {
	u.mergeSetCookies(cred.SetCookies)
	if cred.Bearer != "" {
		u.bearer = cred.Bearer
	}
	u.refresh = cred.Refresh
	u.expires = cred.ExpiresAt
	if cred.Instance != "" {
		u.instance = cred.Instance
	}
	u.loggedIn = true
	u.gen++
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

// loginResponse is the gateway's POST /auth/login and /auth/refresh
// answer.
type loginResponse struct {
	User         string `json:"user"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
	// ExpiresIn is the access token's remaining lifetime in whole seconds
	// (rounded), 0 when none is given.
	ExpiresIn int64 `json:"expires_in"`
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
	// ExpiresAt is when the access token expires, on this machine's clock
	// (zero when unknown): the earlier of the answer's expires_in and the
	// token's exp claim (read without verifying: only for scheduling a
	// refresh).
	ExpiresAt time.Time
}

// Cookies returns the cookies the login set.
func (c Credential) Cookies() []*http.Cookie { return (&http.Response{Header: c.SetCookies}).Cookies() }

// Login posts the user's name and password to base+/auth/login with the
// client c (whose cookie jar, if any, keeps the cookies set), carrying the
// given headers (the lb pin cookie, so a sticky user keeps its pin).
func Login(ctx context.Context, c *http.Client, base, name, password string, h http.Header) (Credential, error) {
	body, _ := json.Marshal(map[string]string{"username": name, "password": password})
	cred, err := postAuth(ctx, c, base+"/auth/login", body, h)
	if err != nil {
		return Credential{}, fmt.Errorf("login %s: %w", name, err)
	}
	return cred, nil
}

// Refresh exchanges refreshToken at base+/auth/refresh for a new access
// token and refresh token (the gateway rotates them: the old refresh token
// is spent), carrying the given headers (the lb pin cookie).
func Refresh(ctx context.Context, c *http.Client, base, refreshToken string, h http.Header) (Credential, error) {
	body, _ := json.Marshal(map[string]string{"refresh_token": refreshToken})
	cred, err := postAuth(ctx, c, base+"/auth/refresh", body, h)
	if err != nil {
		return Credential{}, fmt.Errorf("refresh: %w", err)
	}
	return cred, nil
}

// postAuth posts the JSON body to url (an /auth/ endpoint answering like
// login) without the Authorization header of h, and returns the
// credential of a 200 answer.
func postAuth(ctx context.Context, c *http.Client, url string, body []byte, h http.Header) (Credential, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return Credential{}, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	req.Header.Del("Authorization")
	req.Header.Set("Content-Type", "application/json")
	sent := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		return Credential{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return Credential{}, fmt.Errorf("read: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return Credential{}, fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(b)))
	}
	var lr loginResponse
	if err := json.Unmarshal(b, &lr); err != nil {
		return Credential{}, fmt.Errorf("decode: %w", err)
	}
	return Credential{
		SetCookies: resp.Header, Bearer: lr.AccessToken, Refresh: lr.RefreshToken,
		Instance: resp.Header.Get(lb.InstanceHeader), ExpiresAt: expiresAt(sent, lr.ExpiresIn, lr.AccessToken),
	}, nil
}

// expiresAt is when an access token handed out in answer to a request sent
// at sent expires: the earlier of sent+expiresIn seconds and the token's
// exp claim, whichever are known (zero when neither is). Counting from the
// send, not the answer, errs on the early side.
func expiresAt(sent time.Time, expiresIn int64, token string) time.Time {
	var at time.Time
	if expiresIn > 0 {
		at = sent.Add(time.Duration(expiresIn) * time.Second)
	}
	if exp, ok := jwtExp(token); ok && (at.IsZero() || exp.Before(at)) {
		at = exp
	}
	return at
}

// jwtExp reads the exp claim of a JWT without verifying it (the harness
// only schedules its refresh by it; the gateway is the one that checks).
func jwtExp(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, false
	}
	var c struct {
		Exp *float64 `json:"exp"`
	}
	if json.Unmarshal(b, &c) != nil || c.Exp == nil || *c.Exp <= 0 {
		return time.Time{}, false
	}
	sec, frac := math.Modf(*c.Exp)
	return time.Unix(int64(sec), int64(frac*1e9)), true
}
