package scenario

import (
	"context"
	"fmt"
	"time"

	"github.com/authlab/authlab/bench/load"
	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/redisx"
)

// RedisHangName names the scenario cutting every gateway off from Redis
// by a network that holds packets. (redis-partition is the docker-network
// cut of one gateway of a compose deployment; redis-outage kills Redis,
// whose connections are then refused at once.)
const RedisHangName = "redis-hang"

// HangThreshold: a request slower than this, or without an answer, hung.
const HangThreshold = time.Second

// RedisHang cuts every gateway off from Redis at 1/3 of a load phase (the
// proxy holds every byte: connections hang, nothing is refused) and heals
// at 2/3. It reports the time to answer 503, the requests that hung, the
// errors by class and the recovery after the heal. Expected: a strategy
// with Redis on the request path answers 503 within its Redis timeout
// rather than hanging; one without keeps serving.
type RedisHang struct{}

// Name implements Scenario.
func (RedisHang) Name() string { return RedisHangName }

// Run implements Scenario.
func (RedisHang) Run(ctx context.Context, env *Env) (report.Scenario, error) {
	rn := env.RedisNet
	if rn == nil {
		return report.Scenario{Skipped: true, SkipReason: redisNetSkip}, nil
	}
	inject := load.Hook{Type: "redis-cut", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("cutting every gateway off from Redis (packets held: connections hang)")
		return "", rn.Cut(ctx)
	}}
	heal := load.Hook{Type: "redis-heal", Do: func(ctx context.Context) (string, error) {
		env.Progress.Note("healing the cut")
		return "", rn.Heal(ctx)
	}}
	defer func() { _ = rn.Heal(context.WithoutCancel(ctx)) }()
	s, pr, w, err := env.loadWithFault(ctx, RedisHangName, inject, heal)
	if err != nil {
		return s, err
	}
	s.RedisHang = hangFindings(pr.Records, s.Timeline, w)
	return s, nil
}

// hangFindings classifies the requests that met the cut w: those sent
// while it lasted or in flight when it began.
func hangFindings(records []load.Record, timeline []report.Second, w window) *report.RedisHang {
	h := &report.RedisHang{
		CutAtS: report.Round3(w.from.Seconds()), HealAtS: report.Round3(w.to.Seconds()),
		RedisTimeoutMs: ms(redisx.ReadTimeout), RedisAttempts: 1 + redisx.MaxRetries,
		HangThresholdMs: ms(HangThreshold),
		RecoveryS:       report.Recovery(timeline, w.to.Seconds()),
	}
	var storeDown, during []time.Duration
	for _, rec := range records {
		inFlight := rec.At < w.from && rec.At+rec.Latency > w.from
		if !w.contains(rec.At) && !inFlight {
			continue
		}
		h.DuringRequests++
		during = append(during, rec.Latency)
		if rec.Class == load.ClassOK {
			h.DuringOK++
		}
		load.Count(&h.DuringErrors, rec.Class)
		if rec.Class == load.ClassTransport || rec.Latency > HangThreshold {
			h.Hung++
		}
		if rec.Class == load.ClassStoreDown {
			storeDown = append(storeDown, rec.Latency)
			after := ms(rec.At + rec.Latency - w.from)
			if h.FirstStoreDownAfterMs == nil || after < *h.FirstStoreDownAfterMs {
				h.FirstStoreDownAfterMs = report.Float(report.Round3(max(0, after)))
			}
		}
	}
	h.StoreDownLatency = report.Summarize(storeDown)
	h.DuringLatency = report.Summarize(during)
	h.Verdict = hangVerdict(h)
	return h
}

// hangVerdict says what h means against the expected physics.
func hangVerdict(h *report.RedisHang) string {
	budget := h.RedisTimeoutMs * float64(h.RedisAttempts)
	switch {
	case h.DuringRequests == 0:
		return "No request met the cut: nothing to judge."
	case h.Hung > 0:
		return fmt.Sprintf("%d of %d requests hung (over %s ms or no answer): the Redis timeout did not bound them.",
			h.Hung, h.DuringRequests, fmtMs(h.HangThresholdMs))
	case h.DuringOK == h.DuringRequests:
		return "Kept serving: every request that met the cut succeeded (no Redis on the request path)."
	case h.DuringErrors.StoreDown > 0:
		within := "within"
		if h.StoreDownLatency.P99 > budget {
			within = "beyond"
		}
		return fmt.Sprintf("Answered 503 rather than hanging: p99 time to 503 %s ms, %s the Redis timeout budget (%d × %s ms = %s ms); nothing hung.",
			fmtMs(h.StoreDownLatency.P99), within, h.RedisAttempts, fmtMs(h.RedisTimeoutMs), fmtMs(budget))
	}
	return fmt.Sprintf("Failed without hanging: %d of %d requests failed, none with a gateway 503.", h.DuringErrors.Total(), h.DuringRequests)
}

func fmtMs(v float64) string { return fmt.Sprintf("%.4g", v) }
