package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"time"
)

// DemoConfig configures the narrated session-loss walkthrough.
type DemoConfig struct {
	// Exe is the authlab binary the topology is started from.
	Exe string
	// Out receives the narration.
	Out io.Writer
	// Pace is the pause between steps, so a person can follow (0 in tests).
	Pace time.Duration
	// Strategies to walk through (default sticky, redis-session, jwt).
	Strategies []string
	// Instances behind the lb (default 3).
	Instances int
	RedisURL  string
	Logger    *slog.Logger
}

// DemoOutcome is what happened to the demo user under one strategy.
type DemoOutcome struct {
	Strategy string
	// Before is the instance that served the user before the kill; After
	// the one that answered the next request, with AfterStatus.
	Before, After string
	AfterStatus   int
}

var demoWhy = map[string][2]string{
	"sticky": {
		"sticky keeps the session in the memory of the gateway that created it; the lb pins the user to that gateway with its authlab_lb cookie.",
		"the session existed only in %s's memory, which died with the process. %s has never heard of it: the user is logged out and must log in again (a session lost).",
	},
	"redis-session": {
		"redis-session keeps the session in Redis, shared by every gateway; the cookie only holds its id.",
		"%s is gone, but %s read the same session from Redis: the user carries on without noticing.",
	},
	"jwt": {
		"jwt hands the user a signed token that carries the identity itself; no gateway keeps any state about it.",
		"%s is gone; %s checked the token's signature with the shared key and needed nothing else: the user carries on.",
	},
	"opaque": {
		"opaque hands out a random token whose meaning lives in Redis (cached by each gateway).",
		"%s is gone; %s looked the token up in Redis (its own cache was cold): the user carries on.",
	},
	"none": {
		"none authenticates nobody: every request is the anonymous user (the control group).",
		"%s is gone; %s answers the anonymous request just the same.",
	},
}

// RunDemo walks through "a user is served by instance X, X is killed,
// what happens to the user's next request" for each strategy, narrating
// every step to cfg.Out.
func RunDemo(ctx context.Context, cfg DemoConfig) ([]DemoOutcome, error) {
	if cfg.Exe == "" || cfg.Out == nil {
		return nil, errors.New("demo: need an executable and an output")
	}
	if len(cfg.Strategies) == 0 {
		cfg.Strategies = []string{"sticky", "redis-session", "jwt"}
	}
	if cfg.Instances == 0 {
		cfg.Instances = 3
	}
	if cfg.Instances < 2 {
		return nil, errors.New("demo: need at least 2 instances, so one survives the kill")
	}
	var outs []DemoOutcome
	for i, s := range cfg.Strategies {
		if _, ok := demoWhy[s]; !ok {
			return outs, fmt.Errorf("demo: unknown strategy %q", s)
		}
		o, err := demoOne(ctx, cfg, s, i+1, len(cfg.Strategies))
		if err != nil {
			return outs, fmt.Errorf("demo %s: %w", s, err)
		}
		outs = append(outs, o)
	}
	fmt.Fprintf(cfg.Out, "\n== In short ==\n")
	for _, o := range outs {
		verdict := "the user carried on"
		if o.AfterStatus == http.StatusUnauthorized {
			verdict = "the user was logged out: session lost"
		}
		fmt.Fprintf(cfg.Out, "  %-14s served by %s, %s killed, next request answered by %s with %d: %s\n",
			o.Strategy, o.Before, o.Before, o.After, o.AfterStatus, verdict)
	}
	fmt.Fprintf(cfg.Out, "\nMeasure it under load: authlab bench --strategy sticky --scenario failover\n")
	return outs, nil
}

func (cfg DemoConfig) pause(ctx context.Context) {
	if cfg.Pace <= 0 {
		return
	}
	select {
	case <-ctx.Done():
	case <-time.After(cfg.Pace):
	}
}

func demoOne(ctx context.Context, cfg DemoConfig, strategy string, n, total int) (DemoOutcome, error) {
	w := cfg.Out
	o := DemoOutcome{Strategy: strategy}
	fmt.Fprintf(w, "\n== %d/%d: %s ==\n", n, total, strategy)
	fmt.Fprintf(w, "   %s\n", demoWhy[strategy][0])
	topo, err := StartTopology(ctx, TopologyConfig{
		Exe: cfg.Exe, Strategy: strategy, Instances: cfg.Instances, SeedUsers: 3,
		RedisURL: cfg.RedisURL, Logger: cfg.Logger,
	})
	if err != nil {
		return o, err
	}
	defer topo.Close()
	insts, err := topo.Instances(ctx)
	if err != nil {
		return o, err
	}
	ids := make([]string, len(insts))
	for i, in := range insts {
		ids[i] = in.ID
	}
	fmt.Fprintf(w, "-> started Redis, auth, backend and an lb (policy %s) with gateways %s at %s\n",
		DefaultPolicy(strategy), strings.Join(ids, ", "), topo.LBURL)
	cfg.pause(ctx)

	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 5 * time.Second}
	body, _ := json.Marshal(map[string]string{"username": "user0001", "password": topo.Password})
	resp, err := c.Post(topo.LBURL+"/auth/login", "application/json", bytes.NewReader(body))
	if err != nil {
		return o, fmt.Errorf("login: %w", err)
	}
	var lr loginResponse
	_ = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return o, fmt.Errorf("login: status %d", resp.StatusCode)
	}
	cred := "no credential"
	switch {
	case lr.AccessToken != "":
		cred = fmt.Sprintf("a bearer token (%d bytes, %s…)", len(lr.AccessToken), lr.AccessToken[:min(16, len(lr.AccessToken))])
	case len(resp.Cookies()) > 0:
		var names []string
		for _, ck := range resp.Cookies() {
			names = append(names, ck.Name)
		}
		cred = "cookie(s) " + strings.Join(names, ", ")
	}
	fmt.Fprintf(w, "-> user0001 logs in: POST /auth/login → %d, handled by %s; the client keeps %s\n",
		resp.StatusCode, resp.Header.Get(InstanceHeader), cred)
	cfg.pause(ctx)

	me := func() (int, string, string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, topo.LBURL+"/api/me", nil)
		if lr.AccessToken != "" {
			req.Header.Set("Authorization", "Bearer "+lr.AccessToken)
		}
		resp, err := c.Do(req)
		if err != nil {
			return 0, "", "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return resp.StatusCode, resp.Header.Get(InstanceHeader), strings.TrimSpace(string(b)), nil
	}
	code, inst, text, err := me()
	if err != nil {
		return o, fmt.Errorf("GET /api/me: %w", err)
	}
	if code != http.StatusOK {
		return o, fmt.Errorf("GET /api/me before the kill: status %d %s", code, text)
	}
	o.Before = inst
	fmt.Fprintf(w, "-> GET /api/me → %d from %s: %s\n", code, inst, text)
	cfg.pause(ctx)

	fmt.Fprintf(w, "-> killing %s: POST %s/_lb/instances/%s/kill?mode=sigkill on the lb's admin port (SIGKILL: no goodbye, memory gone)\n", inst, topo.LBAdminURL, inst)
	if err := topo.Kill(ctx, inst); err != nil {
		return o, err
	}
	cfg.pause(ctx)

	code, after, text, err := me()
	if err != nil {
		return o, fmt.Errorf("GET /api/me after the kill: %w", err)
	}
	o.After, o.AfterStatus = after, code
	fmt.Fprintf(w, "-> GET /api/me again → %d from %s: %s\n", code, after, text)
	why := demoWhy[strategy][1]
	if code == http.StatusUnauthorized {
		why = demoWhy["sticky"][1]
	} else if strategy == "sticky" {
		why = "%s is gone, yet %s accepted the session: unexpected for sticky."
	}
	fmt.Fprintf(w, "   why: "+why+"\n", inst, after)
	cfg.pause(ctx)
	return o, nil
}
