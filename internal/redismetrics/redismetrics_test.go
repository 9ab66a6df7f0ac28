package redismetrics

import (
	"context"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx/redistest"
)

func TestCountsCommandsAndErrors(t *testing.T) {
	srv := redistest.Start(t)
	client := redistest.Client(t, srv)
	reg := prometheus.NewRegistry()
	h, err := New(reg)
	if err != nil {
		t.Fatal(err)
	}
	client.AddHook(h)
	ctx := context.Background()
	client.Set(ctx, "k", "v", 0)
	client.Get(ctx, "missing") // redis.Nil: an answer, not an error
	client.Pipelined(ctx, func(p redis.Pipeliner) error {
		p.Get(ctx, "k")
		p.Get(ctx, "k")
		return nil
	})
	redis.NewScript(`return 1`).Run(ctx, client, nil) // EVALSHA (NOSCRIPT), then EVAL
	if got := value(t, reg, `authlab_redis_commands_total{command="get"}`); got != 3 {
		t.Fatalf("get commands = %v, want 3", got)
	}
	if got := value(t, reg, `authlab_redis_commands_total{command="set"}`); got != 1 {
		t.Fatalf("set commands = %v, want 1", got)
	}
	if got := value(t, reg, `authlab_redis_commands_total{command="evalsha"}`); got != 1 {
		t.Fatalf("evalsha commands = %v, want 1", got)
	}
	if got := value(t, reg, "authlab_redis_errors_total"); got != 0 {
		t.Fatalf("errors before any failure = %v, want 0 (missing key and NOSCRIPT are not errors)\n%s", got, dump(reg))
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	client.Get(ctx, "k")
	if got := value(t, reg, `authlab_redis_errors_total{command="get"}`); got != 1 {
		t.Fatalf("get errors with Redis down = %v, want 1", got)
	}
	if got := value(t, reg, "authlab_redis_dial_errors_total"); got < 1 {
		t.Fatalf("dial errors = %v, want >= 1", got)
	}
}

func TestRegisterTwiceFails(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(reg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(reg); err == nil {
		t.Fatal("second registration on one registry: no error")
	}
}

// value sums the samples of reg's text exposition whose series starts with
// prefix (a metric name, optionally with its labels).
func value(t *testing.T, reg *prometheus.Registry, prefix string) float64 {
	t.Helper()
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	var sum float64
	for _, line := range strings.Split(rec.Body.String(), "\n") {
		series, v, ok := strings.Cut(line, " ")
		if !ok || strings.HasPrefix(line, "#") || !strings.HasPrefix(series, prefix) {
			continue
		}
		if rest := series[len(prefix):]; rest != "" && !strings.HasPrefix(rest, "{") {
			continue // another metric sharing the prefix
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			t.Fatalf("parse %q: %v", line, err)
		}
		sum += f
	}
	return sum
}

func dump(reg *prometheus.Registry) string {
	rec := httptest.NewRecorder()
	promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}
