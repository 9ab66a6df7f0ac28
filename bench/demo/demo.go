// Package demo is `authlab demo`: a narrated walkthrough of what happens to
// a logged-in user when the gateway instance serving it dies, and then
// when Redis dies, strategy by strategy.
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/topology"
	"github.com/authlab/authlab/lb"
)

// DefaultStrategies are walked through unless told otherwise: every
// strategy but the control group, in display order — those that lose the
// session with its instance and those that keep it.
func DefaultStrategies() []string {
	var out []string
	for _, n := range catalog.Strategies() {
		if !catalog.IsControl(n) {
			out = append(out, n)
		}
	}
	return out
}

// Config configures the walkthrough.
type Config struct {
	// Exe is the authlab binary the topology is started from.
	Exe string
	// Out receives the narration.
	Out io.Writer
	// Pace is the pause between steps, so a person can follow (0 in tests).
	Pace time.Duration
	// Strategies to walk through (default DefaultStrategies).
	Strategies []string
	// Instances behind the lb (default 3, at least 2 so one survives).
	Instances int
	RedisURL  string
	Logger    *slog.Logger
}

// Validate checks c and fills defaults.
func (c *Config) Validate() error {
	if c.Exe == "" || c.Out == nil {
		return errors.New("demo: need an executable and an output")
	}
	if len(c.Strategies) == 0 {
		c.Strategies = DefaultStrategies()
	}
	for _, s := range c.Strategies {
		if _, _, ok := story(s); !ok {
			return fmt.Errorf("demo: unknown strategy %q", s)
		}
	}
	if c.Instances == 0 {
		c.Instances = 3
	}
	if c.Instances < 2 {
		return errors.New("demo: need at least 2 instances, so one survives the kill")
	}
	return nil
}

// Outcome is what happened to the demo user under one strategy.
type Outcome struct {
	Strategy string
	// Before is the instance that served the user before the kill; After
	// the one that answered the next request, with AfterStatus.
	Before, After string
	AfterStatus   int
}

// story explains where strategy keeps a session (a sentence whose
// subject is the strategy's name) and, as a format of the killed and the
// answering instance, what a kill does to it: both from the strategy's
// descriptor. ok is false for a strategy the catalogue does not know.
func story(strategy string) (where, afterKill string, ok bool) {
	d, ok := catalog.Describe(strategy)
	return d.StateLives, d.AfterCrash, ok
}

// lostWhy explains a lost session.
const lostWhy = "the session existed only in %s's memory, which died with the process. %s has never heard of it: the user is logged out and must log in again (a session lost)."

// Run walks through "a user is served by instance X, X is killed, what
// happens to the user's next request" for each strategy, narrating every
// step to cfg.Out.
func Run(ctx context.Context, cfg Config) ([]Outcome, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	var outs []Outcome
	for i, s := range cfg.Strategies {
		fmt.Fprintf(cfg.Out, "\n== %d/%d: %s ==\n", i+1, len(cfg.Strategies), s)
		where, _, _ := story(s)
		fmt.Fprintf(cfg.Out, "   %s %s\n", s, where)
		o, err := walkThrough(ctx, cfg, s)
		if err != nil {
			return outs, fmt.Errorf("demo %s: %w", s, err)
		}
		outs = append(outs, o)
	}
	summarize(cfg.Out, outs)
	return outs, nil
}

// Result is both chapters' outcomes.
type Result struct {
	// Kill is the "an instance dies" chapter, RedisOutage the "Redis goes
	// down" one (nil when Redis is external).
	Kill        []Outcome
	RedisOutage []OutageOutcome
}

// RunAll is `authlab demo`: Run (an instance dies), then RunRedisOutage
// (Redis goes down).
func RunAll(ctx context.Context, cfg Config) (Result, error) {
	var res Result
	var err error
	if res.Kill, err = Run(ctx, cfg); err != nil {
		return res, err
	}
	res.RedisOutage, err = RunRedisOutage(ctx, cfg)
	return res, err
}

// summarize prints one line per strategy.
func summarize(w io.Writer, outs []Outcome) {
	fmt.Fprintf(w, "\n== In short ==\n")
	for _, o := range outs {
		verdict := "the user carried on"
		if o.AfterStatus == http.StatusUnauthorized {
			verdict = "the user was logged out: session lost"
		}
		fmt.Fprintf(w, "  %-14s served by %s, %s killed, next request answered by %s with %d: %s\n",
			o.Strategy, o.Before, o.Before, o.After, o.AfterStatus, verdict)
	}
	fmt.Fprintf(w, "\nMeasure it under load: authlab bench --strategy %s --scenario failover\n", catalog.FirstNeedingStickyLB())
}

// walk is one strategy's walkthrough: its topology and the demo user's
// client.
type walk struct {
	cfg      Config
	strategy string
	topo     *topology.Topology
	client   *http.Client // with a cookie jar
	token    string       // the bearer token of token strategies
}

// walkThrough starts a topology for strategy and narrates: the user logs
// in, is served by an instance, that instance is killed, and the user's
// next request is answered by another one — or refused.
func walkThrough(ctx context.Context, cfg Config, strategy string) (Outcome, error) {
	o := Outcome{Strategy: strategy}
	w, err := start(ctx, cfg, strategy)
	if err != nil {
		return o, err
	}
	defer w.topo.Close()
	if err := w.logIn(ctx); err != nil {
		return o, err
	}
	if o.Before, err = w.servedBy(ctx); err != nil {
		return o, err
	}
	if err := w.kill(ctx, o.Before); err != nil {
		return o, err
	}
	o.After, o.AfterStatus, err = w.afterKill(ctx, o.Before)
	return o, err
}

// start starts the topology (gatewayArgs: extra gateway flags) and says
// what runs.
func start(ctx context.Context, cfg Config, strategy string, gatewayArgs ...string) (*walk, error) {
	topo, err := topology.Start(ctx, topology.Config{
		Exe: cfg.Exe, Strategy: strategy, Instances: cfg.Instances, SeedUsers: 3,
		RedisURL: cfg.RedisURL, Logger: cfg.Logger, GatewayArgs: gatewayArgs,
	})
	if err != nil {
		return nil, err
	}
	insts, err := topo.Instances(ctx)
	if err != nil {
		topo.Close()
		return nil, err
	}
	ids := make([]string, len(insts))
	for i, in := range insts {
		ids[i] = in.ID
	}
	fmt.Fprintf(cfg.Out, "-> started Redis, auth, backend and an lb (policy %s) with gateways %s at %s\n",
		catalog.DefaultPolicy(strategy), strings.Join(ids, ", "), topo.LBURL)
	jar, _ := cookiejar.New(nil)
	w := &walk{cfg: cfg, strategy: strategy, topo: topo, client: &http.Client{Jar: jar, Timeout: 5 * time.Second}}
	w.pause(ctx)
	return w, nil
}

// logIn logs the demo user in and says what credential it got.
func (w *walk) logIn(ctx context.Context) error {
	user := load.UserName(0)
	cred, err := load.Login(ctx, w.client, w.topo.LBURL, user, w.topo.Password, nil)
	if err != nil {
		return err
	}
	w.token = cred.Bearer
	what := "no credential"
	switch {
	case cred.Bearer != "":
		what = fmt.Sprintf("a bearer token (%d bytes, %s…)", len(cred.Bearer), cred.Bearer[:min(16, len(cred.Bearer))])
	case len(cred.Cookies()) > 0:
		var names []string
		for _, ck := range cred.Cookies() {
			names = append(names, ck.Name)
		}
		what = "cookie(s) " + strings.Join(names, ", ")
	}
	fmt.Fprintf(w.cfg.Out, "-> %s logs in: POST /auth/login → %d, handled by %s; the client keeps %s\n",
		user, http.StatusOK, cred.Instance, what)
	w.pause(ctx)
	return nil
}

// servedBy sends GET /api/me and returns the instance that answered it.
func (w *walk) servedBy(ctx context.Context) (string, error) {
	code, inst, text, err := w.me(ctx)
	if err != nil {
		return "", fmt.Errorf("GET /api/me: %w", err)
	}
	if code != http.StatusOK {
		return "", fmt.Errorf("GET /api/me before the kill: status %d %s", code, text)
	}
	fmt.Fprintf(w.cfg.Out, "-> GET /api/me → %d from %s: %s\n", code, inst, text)
	w.pause(ctx)
	return inst, nil
}

// kill kills the instance through the lb's admin API.
func (w *walk) kill(ctx context.Context, inst string) error {
	fmt.Fprintf(w.cfg.Out, "-> killing %s: POST %s/_lb/instances/%s/kill?mode=sigkill on the lb's admin port (SIGKILL: no goodbye, memory gone)\n", inst, w.topo.LBAdminURL, inst)
	if err := w.topo.Kill(ctx, inst); err != nil {
		return err
	}
	w.pause(ctx)
	return nil
}

// afterKill sends GET /api/me again and explains the answer.
func (w *walk) afterKill(ctx context.Context, killed string) (string, int, error) {
	code, after, text, err := w.me(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("GET /api/me after the kill: %w", err)
	}
	fmt.Fprintf(w.cfg.Out, "-> GET /api/me again → %d from %s: %s\n", code, after, text)
	_, explain, _ := story(w.strategy)
	if code == http.StatusUnauthorized {
		explain = lostWhy
	} else if catalog.KeepsSessionsInInstance(w.strategy) {
		explain = "%s is gone, yet %s accepted the session: unexpected for " + w.strategy + "."
	}
	fmt.Fprintf(w.cfg.Out, "   why: "+explain+"\n", killed, after)
	w.pause(ctx)
	return after, code, nil
}

// me sends GET /api/me with the user's credential.
func (w *walk) me(ctx context.Context) (code int, instance, body string, err error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.topo.LBURL+"/api/me", nil)
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	return resp.StatusCode, resp.Header.Get(lb.InstanceHeader), strings.TrimSpace(string(b)), nil
}

func (w *walk) pause(ctx context.Context) {
	if w.cfg.Pace <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(w.cfg.Pace):
	}
}
