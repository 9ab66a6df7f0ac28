package topology

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/authlab/authlab/lb"
)

// LBAdmin is a client of an lb's admin API (/_lb/*): of an lb the harness
// started, or of one it did not.
type LBAdmin struct {
	// URL is the lb's admin plane, http://host:port.
	URL string
	// Token is the admin API's bearer token.
	Token  string
	client *http.Client
}

// NewLBAdmin returns a client of the admin API at url.
func NewLBAdmin(url, token string) *LBAdmin {
	return &LBAdmin{URL: strings.TrimRight(url, "/"), Token: token, client: &http.Client{Timeout: 5 * time.Second}}
}

// Instances lists the lb's instances.
func (a *LBAdmin) Instances(ctx context.Context) ([]lb.InstanceInfo, error) {
	var out []lb.InstanceInfo
	if err := a.do(ctx, http.MethodGet, "/_lb/instances", &out); err != nil {
		return nil, err
	}
	return out, nil
}

// Kill takes instance id down with mode (sigkill, drain, freeze).
func (a *LBAdmin) Kill(ctx context.Context, id, mode string) error {
	return a.do(ctx, http.MethodPost, "/_lb/instances/"+url.PathEscape(id)+"/kill?mode="+url.QueryEscape(mode), nil)
}

// Revive starts instance id again.
func (a *LBAdmin) Revive(ctx context.Context, id string) error {
	return a.do(ctx, http.MethodPost, "/_lb/instances/"+url.PathEscape(id)+"/revive", nil)
}

func (a *LBAdmin) do(ctx context.Context, method, path string, out any) error {
	req, err := http.NewRequestWithContext(ctx, method, a.URL+path, nil)
	if err != nil {
		return fmt.Errorf("lb admin %s: %w", path, err)
	}
	req.Header.Set("Authorization", "Bearer "+a.Token)
	resp, err := a.client.Do(req)
	if err != nil {
		return fmt.Errorf("lb admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("lb admin %s %s: status %d: %s", method, path, resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if out != nil {
		if err := json.Unmarshal(body, out); err != nil {
			return fmt.Errorf("lb admin %s: decode: %w", path, err)
		}
	}
	return nil
}
