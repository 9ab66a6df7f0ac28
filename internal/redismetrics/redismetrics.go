// Package redismetrics counts a go-redis client's commands and errors as
// Prometheus metrics: a redis.Hook added where the client is built.
package redismetrics

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/authlab/authlab/internal/redisx"
)

// Hook is a redis.Hook counting commands (pipelined ones one by one),
// failed commands and failed dials. redis.Nil (a missing key) is an
// answer, not an error; nor is NOSCRIPT (Script.Run's first EVALSHA). The
// connection handshake (HELLO, CLIENT …) is not counted.
type Hook struct {
	commands, errs *prometheus.CounterVec
	dialErrs       prometheus.Counter
}

var _ redis.Hook = (*Hook)(nil)

// New returns a Hook whose metrics are registered with reg:
//
//	authlab_redis_commands_total{command}
//	authlab_redis_errors_total{command}
//	authlab_redis_dial_errors_total
//
// The command label is the command's name as the code sends it (a bounded
// set), never a key or argument.
func New(reg prometheus.Registerer) (*Hook, error) {
	h := &Hook{
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authlab_redis_commands_total",
			Help: "Redis commands sent, by command (pipelined commands counted one by one).",
		}, []string{"command"}),
		errs: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "authlab_redis_errors_total",
			Help: "Redis commands that failed (network error, timeout or error reply; a missing key is not an error), by command.",
		}, []string{"command"}),
		dialErrs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authlab_redis_dial_errors_total",
			Help: "Failed attempts to open a connection to Redis.",
		}),
	}
	for _, c := range []prometheus.Collector{h.commands, h.errs, h.dialErrs} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("redismetrics: register: %w", err)
		}
	}
	return h, nil
}

// DialHook implements redis.Hook.
func (h *Hook) DialHook(next redis.DialHook) redis.DialHook {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := next(ctx, network, addr)
		if err != nil {
			h.dialErrs.Inc()
		}
		return c, err
	}
}

// ProcessHook implements redis.Hook.
func (h *Hook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd) // cmd.Err() is set only after the hooks return
		h.observe(cmd, err)
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (h *Hook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, c := range cmds {
			cerr := c.Err()
			if cerr == nil {
				cerr = err // the whole pipeline failed (no connection)
			}
			h.observe(c, cerr)
		}
		return err
	}
}

func (h *Hook) observe(cmd redis.Cmder, err error) {
	name := cmd.Name()
	if redisx.Handshake(name) {
		return
	}
	h.commands.WithLabelValues(name).Inc()
	// NOSCRIPT is go-redis's Script.Run asking for EVAL after EVALSHA.
	if err != nil && !errors.Is(err, redis.Nil) && !redis.HasErrorPrefix(err, "NOSCRIPT") {
		h.errs.WithLabelValues(name).Inc()
	}
}
