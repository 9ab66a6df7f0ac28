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
	"strings"
	"time"

	"github.com/authlab/authlab/bench"
	"github.com/authlab/authlab/bench/sweep"
)

// runSweep is `authlab sweep`: one strategy at several settings of a
// trade-off, a full run each, and the frontier (today: the opaque cache's
// TTL × pub/sub against revocation lag and Redis load).
func runSweep(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("sweep", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategy := fs.String("strategy", "opaque", "the strategy swept: opaque (cache TTL × pub/sub invalidation)")
	ttls := fs.String("ttls", "1ms,1s,5s,30s", "opaque: the cache TTLs, each with pub/sub off and on (1ms is as good as no cache)")
	rate := fs.Float64("rate", 200, "requests per second of each point's steady phase")
	duration := fs.Duration("duration", 10*time.Second, "length of each point's steady phase")
	users := fs.Int("users", 200, "distinct users")
	instances := fs.Int("instances", 3, "gateways behind the lb (revocation lag is seen on the others)")
	out := fs.String("out", "results", "results root; the sweep goes to <out>/sweeps/<id>/")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *strategy != "opaque" {
		return fmt.Errorf("--strategy %s: only opaque has a sweep so far (its cache TTL × pub/sub)", *strategy)
	}
	var points []time.Duration
	for _, f := range strings.Split(*ttls, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(f))
		if err != nil || d <= 0 {
			return fmt.Errorf("--ttls: %q is not a positive duration", f)
		}
		points = append(points, d)
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
		Points:   sweep.OpaqueCache(points),
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
