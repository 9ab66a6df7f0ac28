package scenario

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/lb"
)

// RevocationName names the revocation scenario.
const RevocationName = "revocation"

// Revocation logs a sample of users out through the lb, then polls every
// gateway directly with each logged-out credential until it rejects it:
// the lag per (user, instance) pair, and how many pairs still accepted the
// credential at the timeout. The users are logged back in afterwards.
type Revocation struct{}

// Name implements Scenario.
func (Revocation) Name() string { return RevocationName }

// Run implements Scenario.
func (Revocation) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	cfg := env.Config
	if !catalog.HasCredential(cfg.Strategy) {
		return report.Scenario{Skipped: true, SkipReason: fmt.Sprintf("the %s strategy has no credential to revoke", cfg.Strategy)}, nil
	}
	urls, err := liveInstanceURLs(ctx, env.Gateways)
	if err != nil {
		return report.Scenario{}, err
	}
	if base, ok := unreachable(ctx, urls); ok {
		return report.Scenario{Skipped: true, SkipReason: fmt.Sprintf("revocation polls every gateway directly, and %s (its address as the lb knows it) does not answer from here", base)}, nil
	}
	n := cfg.RevocationSample
	var (
		lags       []time.Duration
		notRevoked int
	)
	if cfg.RevocationSpread > 0 {
		env.Progress.Note("revocation: %d users log in afresh and out after a delay spread over %s, polling %d instances directly", n, cfg.RevocationSpread, len(urls))
		lags, notRevoked, err = MeasureRevocationSpread(ctx, env.Driver, n, urls, env.Driver.Path(), cfg.RevocationSpread, cfg.RevocationTimeout)
	} else {
		env.Progress.Note("revocation: logging out %d users, polling %d instances directly", n, len(urls))
		lags, notRevoked, err = MeasureRevocation(ctx, env.Driver, n, urls, env.Driver.Path(), cfg.RevocationTimeout)
	}
	if err != nil {
		return report.Scenario{}, err
	}
	if err := logBackIn(ctx, env.Driver, n); err != nil {
		return report.Scenario{}, err
	}
	return report.Scenario{Revocation: &report.Revocation{
		Sampled: n, Instances: len(urls), TimeoutS: cfg.RevocationTimeout.Seconds(),
		Lag: report.Summarize(lags), NotRevoked: notRevoked, Pairs: n * len(urls),
		SpreadS: cfg.RevocationSpread.Seconds(),
	}}, nil
}

// liveInstanceURLs returns the base URLs of the gateways that are up:
// their own data addresses, past the proxy the lb may route them through
// (--upstream-latency), so that the lag measured is the gateway's, not
// the link's.
func liveInstanceURLs(ctx context.Context, g Gateways) ([]string, error) {
	insts, err := g.Instances(ctx)
	if err != nil {
		return nil, err
	}
	var urls []string
	for _, in := range insts {
		if in.State == lb.StateUp || in.State == "" {
			a := in.Address
			if in.ListenAddress != "" {
				a = in.ListenAddress
			}
			if !strings.Contains(a, "://") {
				a = "http://" + a
			}
			urls = append(urls, a)
		}
	}
	return urls, nil
}

// unreachable returns the first base URL whose /healthz does not answer
// (a deployment's internal address, gw1:8080, seen from outside it).
func unreachable(ctx context.Context, urls []string) (string, bool) {
	client := &http.Client{Timeout: 2 * time.Second}
	for _, base := range urls {
		if _, err := statusOf(ctx, client, http.MethodGet, base+"/healthz", nil, nil); err != nil {
			return base, true
		}
	}
	return "", false
}

// statusOf sends one request with headers h (a credential, a content
// type) and returns the answer's status, its body drained.
func statusOf(ctx context.Context, c *http.Client, method, url string, body []byte, h http.Header) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	for k, v := range h {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// logBackIn logs users 0..n-1 in again, so the scenarios after this one
// see every user with a valid credential.
func logBackIn(ctx context.Context, d *load.Driver, n int) error {
	for i := range n {
		if _, err := d.LogIn(ctx, i); err != nil {
			return fmt.Errorf("log user %s back in after revocation: %w", load.UserName(i), err)
		}
	}
	return nil
}

// MeasureRevocation logs out users 0..n-1 through the lb and polls every
// instance address (base URLs) directly with each logged-out credential
// until it answers 401. It returns the lags of the (user, instance) pairs
// that rejected within timeout and the number that did not.
func MeasureRevocation(ctx context.Context, d *load.Driver, n int, instances []string, path string, timeout time.Duration) ([]time.Duration, int, error) {
	p := newPoller(instances, path, timeout)
	for i := range n {
		cred, err := d.Logout(ctx, i)
		if err != nil {
			return nil, 0, err
		}
		p.poll(ctx, cred, time.Now())
	}
	return p.wait(ctx)
}

// MeasureRevocationSpread is MeasureRevocation at spread token ages: users
// 0..n-1 each log in afresh just after a whole second of the clock (a
// token's exp has one-second resolution: so issued, it lives its whole
// lifetime, less the login's own milliseconds), then log out after
// SpreadDelays(n, spread)[i], and every instance is polled with the
// logged-out credential until it answers 401. With spread = the token's
// lifetime, the logouts fall evenly over that lifetime, as those of users
// logging out at any moment do.
func MeasureRevocationSpread(ctx context.Context, d *load.Driver, n int, instances []string, path string, spread, timeout time.Duration) ([]time.Duration, int, error) {
	p := newPoller(instances, path, timeout)
	start := time.Now().Truncate(time.Second).Add(time.Second + 5*time.Millisecond)
	g, gctx := errgroup.WithContext(ctx)
	for i, delay := range SpreadDelays(n, spread) {
		g.Go(func() error {
			if err := sleepCtx(gctx, time.Until(start)); err != nil {
				return err
			}
			if _, err := d.LogIn(gctx, i); err != nil {
				return fmt.Errorf("log %s in before revocation: %w", load.UserName(i), err)
			}
			if err := sleepCtx(gctx, delay); err != nil {
				return err
			}
			cred, err := d.Logout(gctx, i)
			if err != nil {
				return err
			}
			p.poll(ctx, cred, time.Now())
			return nil
		})
	}
	err := g.Wait()
	lags, notRevoked, werr := p.wait(ctx)
	if err != nil {
		return nil, 0, err
	}
	return lags, notRevoked, werr
}

// SpreadDelays are n logout delays spread evenly over [0, spread): the
// midpoints of n equal slices, so the logouts sample the token's lifetime
// uniformly without a random draw.
func SpreadDelays(n int, spread time.Duration) []time.Duration {
	out := make([]time.Duration, n)
	for i := range out {
		out[i] = time.Duration((float64(i) + 0.5) / float64(n) * float64(spread))
	}
	return out
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// poller polls every instance with logged-out credentials until each
// rejects them, collecting the lags.
type poller struct {
	client    *http.Client
	instances []string
	path      string
	timeout   time.Duration

	mu         sync.Mutex
	lags       []time.Duration
	notRevoked int
	wg         sync.WaitGroup
}

func newPoller(instances []string, path string, timeout time.Duration) *poller {
	return &poller{client: &http.Client{Timeout: 2 * time.Second}, instances: instances, path: path, timeout: timeout}
}

// poll starts polling every instance with cred, logged out at since.
func (p *poller) poll(ctx context.Context, cred http.Header, since time.Time) {
	for _, base := range p.instances {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			lag, ok := pollUntilRejected(ctx, p.client, base+p.path, cred, since, p.timeout)
			p.mu.Lock()
			defer p.mu.Unlock()
			if ok {
				p.lags = append(p.lags, lag)
			} else {
				p.notRevoked++
			}
		}()
	}
}

// wait waits for every poll and returns the lags and the pairs not
// revoked within the timeout.
func (p *poller) wait(ctx context.Context) ([]time.Duration, int, error) {
	p.wg.Wait()
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lags, p.notRevoked, ctx.Err()
}

func pollUntilRejected(ctx context.Context, c *http.Client, url string, cred http.Header, since time.Time, timeout time.Duration) (time.Duration, bool) {
	deadline := since.Add(timeout)
	for time.Now().Before(deadline) {
		if code, err := statusOf(ctx, c, http.MethodGet, url, nil, cred); err == nil && code == http.StatusUnauthorized {
			return time.Since(since), true
		}
		select {
		case <-ctx.Done():
			return 0, false
		case <-time.After(10 * time.Millisecond):
		}
	}
	return 0, false
}
