// Package netutil holds small loopback networking helpers shared by the
// services, the load balancer, the harness and their tests.
package netutil

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"
)

// FreeLoopbackAddr returns a 127.0.0.1 address with a port that was free a
// moment ago. The port is released before returning, so a caller racing
// with another process may lose it; callers that can should listen on
// ":0" directly instead.
func FreeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("find free loopback port: %w", err)
	}
	addr := l.Addr().String()
	if err := l.Close(); err != nil {
		return "", fmt.Errorf("release port %s: %w", addr, err)
	}
	return addr, nil
}

// WaitHTTP polls url until it answers with status 200 or ctx ends.
func WaitHTTP(ctx context.Context, url string) error {
	client := &http.Client{Timeout: time.Second}
	var lastErr error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", url, err)
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			lastErr = fmt.Errorf("status %d", resp.StatusCode)
		} else {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w (last error: %v)", url, ctx.Err(), lastErr)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
