package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/demo"
)

// runDemo is `authlab demo`: a narrated walkthrough of what an instance
// crash, then a Redis outage, does to a logged-in user, strategy by
// strategy.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	strategies := fs.String("strategies", strings.Join(demo.DefaultStrategies(), ","), "strategies to walk through, in order")
	pace := fs.Duration("pace", 3*time.Second, "pause between steps")
	redisURL := fs.String("redis-url", "", "external Redis (default $REDIS_URL); empty: start one")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own executable: %w", err)
	}
	_, err = demo.RunAll(ctx, demo.Config{
		Exe: exe, Out: stdout, Pace: *pace, Strategies: strings.Split(*strategies, ","), RedisURL: redisURLOrEnv(*redisURL),
		Logger: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	return err
}
