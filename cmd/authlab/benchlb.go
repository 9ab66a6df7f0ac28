package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/authlab/authlab/bench/catalog"
	"github.com/authlab/authlab/bench/lbbench"
	"github.com/authlab/authlab/internal/httpserver"
)

// runBenchLB is `authlab bench-lb`: the Go lb against HAProxy at
// saturation in front of the same chain, alternating rounds.
func runBenchLB(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench-lb", flag.ContinueOnError)
	fs.SetOutput(stderr)
	instances := fs.Int("instances", 3, "gateway instances (strategy "+catalog.Control()+")")
	duration := fs.Duration("duration", 0, "one measured round (default 5s)")
	warmup := fs.Duration("warmup", 0, "unmeasured warm-up before every round (default 1s)")
	repeats := fs.Int("repeats", 5, "alternating rounds per proxy, policy and path")
	workers := fs.Int("workers", 32, "concurrent vegeta workers (closed loop)")
	paths := fs.String("paths", "/api/me,/healthz", "comma-separated request paths to measure")
	policies := fs.String("policies", lbbench.RoundRobin+","+lbbench.Sticky, "comma-separated Go lb policies to measure (HAProxy: roundrobin; roundrobin with an inserted cookie)")
	haproxy := fs.String("haproxy", "", "haproxy binary (default: from PATH or /usr/sbin; apt-get installed when missing and root)")
	lbArgs := fs.String("lb-args", "", "extra flags for the Go lb, space-separated (e.g. \"--gc-percent 100\")")
	versusLB := fs.String("versus-lb", "", "A/B: a second Go lb (go-lb-b) from this authlab binary (e.g. a build before a change) in the same rotating rounds; default this binary when --versus-lb-args is given")
	versusArgs := fs.String("versus-lb-args", "", "A/B: the second Go lb's extra flags instead of --lb-args (e.g. \"--gc-percent 100\")")
	aa := fs.Bool("aa", false, "A/A control: a second Go lb (go-lb-b), the first one's twin, in the same rotating rounds; its ratios to the first show the noise floor")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := httpserver.NewLogger(stderr, *logLevel)
	if err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	ps, pols := splitList(*paths), splitList(*policies)
	rep, err := lbbench.Run(ctx, lbbench.Config{
		Executable:       exe,
		Instances:        *instances,
		Paths:            ps,
		Policies:         pols,
		Duration:         *duration,
		Warmup:           *warmup,
		Repeats:          *repeats,
		Workers:          *workers,
		LBArgs:           strings.Fields(*lbArgs),
		VersusExecutable: *versusLB,
		VersusArgs:       strings.Fields(*versusArgs),
		AAControl:        *aa,
		HAProxyPath:      *haproxy,
		InstallHAProxy:   true,
		Logger:           logger,
	})
	if errors.Is(err, lbbench.ErrNoHAProxy) {
		fmt.Fprintf(stdout, "bench-lb SKIPPED: %v\n", err)
		return nil
	}
	if err != nil {
		return err
	}
	return rep.WriteTable(stdout)
}
