// Command authlab measures how authentication strategies behave in a
// service architecture. One binary, several subcommands; the load balancer
// and the harness start the other processes as copies of this executable.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"syscall"

	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/cliflag"
)

// command is one subcommand: it parses args itself and runs until ctx ends
// (Ctrl-C / SIGTERM) or its work is done.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() map[string]command {
	return map[string]command{
		"gateway":     {"API gateway with one authentication strategy", runGateway},
		"auth":        {"auth service: user directory and password check", runAuth},
		"backend":     {"backend service: demo API that verifies the identity assertion", runBackend},
		"lb":          {"load balancer that can kill and revive gateway instances", runLB},
		"bench-lb":    {"the Go lb versus HAProxy at saturation, same chain", runBenchLB},
		"bench":       {"benchmark one strategy: start the topology, run scenarios, write a report", runBench},
		"up":          {"start the benchmark topology for hands-on use until Ctrl-C", runUp},
		"demo":        {"narrated walkthrough: what an instance crash does to a logged-in user", runDemo},
		"compare":     {"write results/COMPARISON.md from the latest run of every strategy", runCompare},
		"sweep":       {"one strategy at several settings of a trade-off, and its frontier (opaque: cache TTL × pub/sub; jwt: denylist, alg, access TTL)", runSweep},
		"scale":       {"memory per session, latency and cache hit ratio at 1k to 1M sessions, and a login storm after a restart", runScale},
		"strategies":  {"list the strategies: summary, needs, capabilities (--names: names only)", runStrategies},
		"healthcheck": {"GET a URL with a short timeout; exit 0 on 2xx (container health checks)", runHealthcheck},
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	cmds := commands()
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "authlab: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	// go-redis logs every failed dial itself (for example while the harness
	// restarts Redis); the callers report the errors that matter, so its
	// own lines go to debug level. The gateway re-points it at its logger.
	redis.SetLogger(redisLogger{slog.New(slog.NewTextHandler(stderr, nil))})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := c.run(ctx, args[1:], stdout, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintf(stderr, "authlab %s: %v\n", args[0], err)
		return 1
	}
	return 0
}

// parseFlags parses a subcommand's args (flags, then AUTHLAB_* environment
// variables for flags not given) and rejects stray positional arguments.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := cliflag.Parse(fs, args, os.LookupEnv); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	return nil
}

// redisURLOrEnv is the one place that reads REDIS_URL: the Redis of every
// command whose --redis-url (or AUTHLAB_REDIS_URL) was not given. It is not
// the flag's default, so that -h never prints a URL that may hold a
// password.
func redisURLOrEnv(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv("REDIS_URL")
}

// redisLogger adapts slog to go-redis's logging interface, at debug level.
type redisLogger struct{ l *slog.Logger }

func (r redisLogger) Printf(ctx context.Context, format string, v ...any) {
	r.l.DebugContext(ctx, fmt.Sprintf(format, v...))
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "usage: authlab <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-11s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nEvery flag --some-flag can also be set as AUTHLAB_SOME_FLAG. Run 'authlab <command> -h' for its flags.")
}
