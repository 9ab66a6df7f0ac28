package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/authlab/authlab/internal/cliflag"
)

// runHealthcheck is `authlab healthcheck URL`: one HTTP GET with a short
// timeout, exit status 0 on a 2xx answer and 1 otherwise. Container health
// checks use it: the authlab image is FROM scratch, with no shell and no
// curl. Redirects are not followed (a 3xx is not healthy), and no proxy
// from the environment is used.
func runHealthcheck(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: authlab healthcheck [--timeout 2s] URL\n\nGET URL; exit 0 on a 2xx answer, 1 otherwise.")
		fs.PrintDefaults()
	}
	timeout := fs.Duration("timeout", 2*time.Second, "give up after this long (connect, request and response headers and body)")
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("want exactly one URL, got %d arguments", fs.NArg())
	}
	if *timeout <= 0 {
		return fmt.Errorf("--timeout %v: must be positive", *timeout)
	}
	u, err := url.Parse(fs.Arg(0))
	if err != nil {
		return fmt.Errorf("url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("url %q: want http://host[:port]/path or https://…", u.Redacted())
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return fmt.Errorf("request: %w", err)
	}
	client := &http.Client{
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("GET %s: no answer within %v", u.Redacted(), *timeout)
		}
		return fmt.Errorf("GET %s: %w", u.Redacted(), err)
	}
	defer resp.Body.Close()
	// Read (a bounded part of) the body so a server that fails mid-answer
	// is not reported healthy.
	if _, err := io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)); err != nil {
		return fmt.Errorf("GET %s: read body: %w", u.Redacted(), err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: status %d", u.Redacted(), resp.StatusCode)
	}
	fmt.Fprintf(stdout, "healthy: GET %s: %d\n", u.Redacted(), resp.StatusCode)
	return nil
}
