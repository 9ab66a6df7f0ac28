package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/sweep"
)

// runSweep is `authlab sweep`: one strategy at several settings of a
// trade-off, a full run each, and the frontier: opaque (its cache TTL ×
// pub/sub against revocation lag and Redis load) or jwt (denylist off/on,
// HS256 against EdDSA, the access TTL on a scaled clock).
func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", "opaque", "the strategy swept: opaque (cache TTL × pub/sub invalidation) or jwt (denylist, alg, access TTL)")
	ttls := fs.String("ttls", "1ms,1s,5s,30s", "opaque: the cache TTLs, each with pub/sub off and on (1ms is as good as no cache)")
	kinds := fs.String("sweep", "all", "jwt: the sweeps, all or a list of denylist (--jwt-denylist off/on), alg (HS256 vs EdDSA), access-ttl (on a scaled clock)")
	repeat := fs.Int("repeat", 3, "jwt alg: runs per algorithm, interleaved (the table shows their median and range)")
	denylistTTL := fs.Duration("denylist-access-ttl", 20*time.Second, "jwt denylist: the access TTL of both points (whole seconds, longer than --duration; without the denylist the run waits it out)")
	accessTTLs := fs.String("access-ttls", "1m,5m,15m", "jwt access-ttl: the access-token lifetimes swept, as they stand in real time")
	timeScale := fs.Float64("time-scale", 60, "jwt access-ttl: the run's clock is this many times as fast (60: a 1m TTL runs as 1s); rates and lags are scaled back")
	refreshAhead := fs.Duration("refresh-ahead", 10*time.Second, "jwt access-ttl: users refresh their token this long before it expires, in real time (run ÷ --time-scale)")
	rate := fs.Float64("rate", 200, "requests per second of each point's steady phase")
	duration := fs.Duration("duration", 10*time.Second, "length of each point's steady phase (jwt access-ttl: at least two lifetimes)")
	users := fs.Int("users", 200, "distinct users")
	instances := fs.Int("instances", 3, "gateways behind the lb (revocation lag is seen on the others)")
	out := fs.String("out", "results", "results root; the sweep goes to <out>/sweeps/<id>/")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var points []sweep.Point
	switch *strategy {
	case "opaque":
		if err := refuseSet(set, "to the opaque sweep (they are jwt's)", "sweep", "repeat", "denylist-access-ttl", "access-ttls", "time-scale", "refresh-ahead"); err != nil {
			return err
		}
		ds, err := sweep.ParseDurations("--ttls", *ttls)
		if err != nil {
			return err
		}
		points = sweep.OpaqueCache(ds)
	case "jwt":
		if err := refuseSet(set, "to the jwt sweeps (it is opaque's)", "ttls"); err != nil {
			return err
		}
		ks, err := sweep.ParseKinds(*kinds)
		if err != nil {
			return err
		}
		ds, err := sweep.ParseDurations("--access-ttls", *accessTTLs)
		if err != nil {
			return err
		}
		if points, err = sweep.JWT(sweep.JWTConfig{
			Kinds: ks, Duration: *duration, DenylistAccessTTL: *denylistTTL, Repeat: *repeat,
			AccessTTLs: ds, TimeScale: *timeScale, RefreshAhead: *refreshAhead,
		}); err != nil {
			return err
		}
	default:
		return fmt.Errorf("--strategy %s: the sweeps are opaque (its cache TTL × pub/sub) and jwt (denylist, alg, access TTL)", *strategy)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	flags := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) { flags[f.Name] = f.Value.String() })
	sw, dir, err := sweep.Run(ctx, sweep.Config{
		Base: bench.Config{
			Strategy: *strategy, Rate: *rate, Duration: *duration, Users: *users, Instances: *instances,
			OutDir: *out, Exe: exe, Floor: false, Micro: false, Flags: flags,
			Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		},
		Points:   points,
		Progress: stderr,
	})
	if sw != nil && len(sw.Points) > 0 && dir != "" {
		fmt.Fprintf(stdout, "sweep: %s\n", filepath.Join(dir, "sweep.md"))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (everything started was stopped)", err)
	}
	return err
}
