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
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/scale"
)

// runScale is `authlab scale`: memory per session, /api/me latency and
// the opaque cache's hit ratio at growing session counts, and a login
// storm after a restart.
func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategies := fs.String("strategies", "sticky,redis-session,jwt,opaque", "strategies measured, one after the other (comma-separated, or all)")
	sizes := fs.String("sizes", "1k,10k,100k,1M", "session counts, ascending (k and M suffixes; at most 1M)")
	bcryptCost := fs.Int("bcrypt-cost", 4, "bcrypt cost of the seeded users (the storm's logins pay it)")
	gatewayArgs := fs.String("gateway-args", "", "extra gateway flags, e.g. \"--opaque-cache-size 10000\"")
	probeRate := fs.Float64("probe-rate", 500, "requests/s of the /api/me probe at each size (0: no probe)")
	probeFor := fs.Duration("probe-duration", 5*time.Second, "length of the probe at each size")
	skew := fs.Float64("user-skew", 1.1, "Zipf exponent of the probe's users (> 1), 0 for uniform")
	stormRates := fs.String("storm-rates", "50,100,200,400,800,1600", "login rates of the storm after a restart, ascending (empty: no storm)")
	stormStep := fs.Duration("storm-step", 4*time.Second, "how long each storm rate lasts")
	stormP99 := fs.Duration("storm-p99", 250*time.Millisecond, "the storm's p99 bound")
	out := fs.String("out", "results", "results root; the run goes to <out>/scale/<id>/")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	names := catalog.Strategies()
	if *strategies != "all" {
		names = splitList(*strategies)
	}
	sz, err := parseSizes(*sizes)
	if err != nil {
		return fmt.Errorf("--sizes: %w", err)
	}
	rates, err := parseRates(*stormRates)
	if err != nil {
		return fmt.Errorf("--storm-rates: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	res, dir, err := scale.Run(ctx, scale.Config{
		Exe: exe, Strategies: names, Sizes: sz, BcryptCost: *bcryptCost, GatewayArgs: strings.Fields(*gatewayArgs),
		Probe:    scale.ProbeConfig{Rate: *probeRate, Duration: *probeFor, Skew: *skew, Seed: 1},
		Storm:    scale.StormConfig{Rates: rates, Step: *stormStep, P99: *stormP99},
		OutDir:   *out,
		Logger:   slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		Progress: stderr,
	})
	if res != nil && dir != "" {
		fmt.Fprintf(stdout, "scale: %s\n", filepath.Join(dir, "scale.md"))
	}
	if errors.Is(err, context.Canceled) {
		return fmt.Errorf("interrupted: %w (everything started was stopped)", err)
	}
	return err
}

// parseSizes reads "1k,10k,100k,1M".
func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range splitList(s) {
		mult := 1
		switch {
		case strings.HasSuffix(f, "k"), strings.HasSuffix(f, "K"):
			mult, f = 1000, f[:len(f)-1]
		case strings.HasSuffix(f, "M"):
			mult, f = 1_000_000, f[:len(f)-1]
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive count (1000, 10k, 1M)", f)
		}
		out = append(out, n*mult)
	}
	if len(out) == 0 {
		return nil, errors.New("no size")
	}
	return out, nil
}
