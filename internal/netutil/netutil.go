// Package netutil holds small loopback networking helpers shared by the
// services, the load balancer, the harness and their tests.
package netutil

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/authlab/authlab/internal/proc"
)

// FreeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago (proc.FreeLoopbackAddr). The port is released before
// returning, so a caller racing with another process may lose it; callers
// that can should listen on ":0" directly instead.
//
// Deprecated: use proc.FreeLoopbackAddr, or proc.StartOnFreePort, which
// starts a child again on another port when it lost the race.
func FreeLoopbackAddr() (string, error) { return proc.FreeLoopbackAddr() }

// CheckHTTP sends one GET url with client and returns nil when it answers
// 200: a readiness check (proc.ReadyFunc) for an HTTP server.
func CheckHTTP(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("check %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

// WaitHTTP polls url until it answers with status 200 or ctx ends.
func WaitHTTP(ctx context.Context, url string) error {
	if _, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil); err != nil {
		return fmt.Errorf("wait for %s: %w", url, err)
	}
	client := &http.Client{Timeout: time.Second}
	for {
		lastErr := CheckHTTP(ctx, client, url)
		if lastErr == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", url, ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
