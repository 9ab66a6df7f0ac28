// Package microbench runs the Go micro-benchmark of a strategy's
// Authenticate inside the harness (testing.Benchmark), for the strategy
// under test as the gateways run it: built by the strategy catalogue from
// the strategy's own flags among the gateways' extra arguments, on the
// harness's Redis when it needs one. Its ns/op and allocs/op sit beside
// the harness's end-to-end costs, so a reader sees what the strategy's
// own code costs and what the rest of the path adds.
package microbench

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/identity"
	"github.com/authlab/authlab/internal/redisx"
	"github.com/authlab/authlab/strategies"
	"github.com/authlab/authlab/strategies/catalog"
)

// DefaultSessions is how many credentials the benchmark cycles through.
const DefaultSessions = 100

// Config configures Run.
type Config struct {
	Strategy string
	// RedisURL is the Redis a strategy that needs one uses (the harness's).
	RedisURL string
	// Args are the gateways' extra flags; the strategies' flags among
	// them configure the strategy, the others are ignored.
	Args []string
	// Sessions is the number of users logged in, whose credentials the
	// benchmark authenticates in turn (default DefaultSessions).
	Sessions int
}

// Run builds cfg.Strategy, logs cfg.Sessions users in, and benchmarks
// Authenticate over their credentials with testing.Benchmark (about a
// second). It logs the users out again before returning.
func Run(ctx context.Context, cfg Config) (*report.Micro, error) {
	if cfg.Sessions <= 0 {
		cfg.Sessions = DefaultSessions
	}
	fs := flag.NewFlagSet("microbench", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	builders := catalog.Register(fs)
	if err := fs.Parse(strategyArgs(fs, cfg.Args)); err != nil {
		return nil, fmt.Errorf("microbench: strategy flags: %w", err)
	}
	var rdb redis.UniversalClient
	if catalog.NeedsRedis(cfg.Strategy) {
		c, err := redisx.NewClient(cfg.RedisURL)
		if err != nil {
			return nil, fmt.Errorf("microbench: %w", err)
		}
		defer c.Close()
		rdb = c
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	s, err := builders.Build(ctx, cfg.Strategy, strategies.Deps{Redis: rdb, FingerprintKey: key, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("microbench: %w", err)
	}
	if c, ok := s.(strategies.Closer); ok {
		defer c.Close()
	}
	raws, err := logIn(ctx, s, cfg.Sessions)
	defer func() {
		for _, raw := range raws {
			_ = s.Logout(context.WithoutCancel(ctx), raw)
		}
	}()
	if err != nil {
		return nil, err
	}
	return benchmark(ctx, s, raws)
}

// logIn logs n distinct users in and returns their raw credentials.
func logIn(ctx context.Context, s strategies.Strategy, n int) ([]string, error) {
	raws := make([]string, 0, n)
	for i := range n {
		p := identity.Principal{User: fmt.Sprintf("microbench%04d", i), Roles: []string{"user"}}
		cred, err := s.Login(ctx, p)
		if err != nil {
			return raws, fmt.Errorf("microbench: login: %w", err)
		}
		if _, err := s.Authenticate(ctx, cred.Token); err != nil {
			return raws, fmt.Errorf("microbench: a fresh credential is refused: %w", err)
		}
		raws = append(raws, cred.Token)
	}
	return raws, nil
}

// benchmark is testing.Benchmark of Authenticate over raws in turn.
func benchmark(ctx context.Context, s strategies.Strategy, raws []string) (*report.Micro, error) {
	var (
		mu    sync.Mutex
		first error
	)
	res := testing.Benchmark(func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, err := s.Authenticate(ctx, raws[i%len(raws)]); err != nil {
				mu.Lock()
				first = errors.Join(first, err)
				mu.Unlock()
				b.FailNow()
			}
			i++
		}
	})
	mu.Lock()
	defer mu.Unlock()
	if first != nil {
		return nil, fmt.Errorf("microbench: authenticate: %w", first)
	}
	if res.N == 0 {
		return nil, errors.New("microbench: the benchmark did not run")
	}
	return &report.Micro{
		NsPerOp:     report.Round3(float64(res.T.Nanoseconds()) / float64(res.N)),
		AllocsPerOp: res.AllocsPerOp(),
		BytesPerOp:  res.AllocedBytesPerOp(),
		N:           res.N,
	}, nil
}

// strategyArgs keeps the flags of args that fs defines (with their
// values); the others (the gateway's own flags) are dropped, their value
// too when it is a separate argument.
func strategyArgs(fs *flag.FlagSet, args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") || a == "-" || a == "--" {
			continue
		}
		name, _, inline := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		takesNext := !inline && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-")
		if f != nil && isBool(f) {
			takesNext = false
		}
		if f != nil {
			out = append(out, a)
			if takesNext {
				out = append(out, args[i+1])
			}
		}
		if takesNext {
			i++
		}
	}
	return out
}

func isBool(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
