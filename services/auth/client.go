package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/authlab/authlab/internal/apierr"
	"github.com/authlab/authlab/internal/identity"
)

// ErrUnavailable is returned (wrapped) by Client.Verify when the auth service
// cannot be reached or answers 5xx: the login could not be checked, which is
// not the same as a wrong password (ErrInvalidLogin).
var ErrUnavailable = errors.New("auth service unavailable")

// DefaultClientTimeout is the timeout of the http.Client NewClient builds
// when given none. It leaves room for a bcrypt comparison on a busy service.
const DefaultClientTimeout = 10 * time.Second

// maxResponseBytes bounds how much of a response the client reads.
const maxResponseBytes = 64 << 10

// Client calls the auth service's POST /v1/verify.
type Client struct {
	url  string
	http *http.Client
}

// NewClient returns a client for the auth service at baseURL (for example
// "http://127.0.0.1:8091"). httpClient may be nil: a client with
// DefaultClientTimeout is used.
func NewClient(baseURL string, httpClient *http.Client) *Client {
	if httpClient == nil {
		httpClient = &http.Client{Timeout: DefaultClientTimeout}
	}
	return &Client{url: strings.TrimRight(baseURL, "/") + VerifyPath, http: httpClient}
}

// Verify asks the auth service whether password is username's. It returns
// the principal on success, ErrInvalidLogin on 401, an error wrapping
// ErrUnavailable when the service cannot be reached (or ctx ends first) or
// answers 5xx, and another error for any other answer.
func (c *Client) Verify(ctx context.Context, username, password string) (identity.Principal, error) {
	body, err := json.Marshal(VerifyRequest{Username: username, Password: password})
	if err != nil {
		return identity.Principal{}, fmt.Errorf("encode verify request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(body))
	if err != nil {
		return identity.Principal{}, fmt.Errorf("build verify request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return identity.Principal{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	defer func() {
		// Drain a little so the connection can be reused.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxResponseBytes))
		resp.Body.Close()
	}()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		return identity.Principal{}, fmt.Errorf("%w: read response: %w", ErrUnavailable, err)
	}
	switch {
	case resp.StatusCode == http.StatusOK:
		var p identity.Principal
		if err := json.Unmarshal(data, &p); err != nil {
			return identity.Principal{}, fmt.Errorf("decode verify response: %w", err)
		}
		if p.User == "" {
			return identity.Principal{}, errors.New("decode verify response: no user")
		}
		return p, nil
	case resp.StatusCode == http.StatusUnauthorized:
		return identity.Principal{}, ErrInvalidLogin
	case resp.StatusCode >= 500:
		return identity.Principal{}, fmt.Errorf("%w: status %d%s", ErrUnavailable, resp.StatusCode, errorMessage(data))
	default:
		return identity.Principal{}, fmt.Errorf("auth service answered status %d%s", resp.StatusCode, errorMessage(data))
	}
}

// errorMessage extracts the apierr message of a response body, if any.
func errorMessage(data []byte) string {
	var b apierr.Body
	if json.Unmarshal(data, &b) != nil || b.Message == "" {
		return ""
	}
	return ": " + b.Message
}
