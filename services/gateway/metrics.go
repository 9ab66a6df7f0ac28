package gateway

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/authlab/authlab/internal/audit"
	"github.com/authlab/authlab/strategies"
)

// Outcomes of Authenticate, the label of the latency histogram.
const (
	outcomeOK           = "ok"
	outcomeNoCredential = "no_credential"
	outcomeInvalid      = "invalid"
	outcomeUnavailable  = "unavailable"
)

func authOutcome(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, strategies.ErrNoCredential):
		return outcomeNoCredential
	case errors.Is(err, strategies.ErrInvalidCredential):
		return outcomeInvalid
	}
	return outcomeUnavailable
}

// unmatchedRoute is the route label of requests no route matched (the raw
// path is never a label: it is the client's to choose).
const unmatchedRoute = "unmatched"

// metrics are one gateway's Prometheus metrics, in its own registry. Every
// series carries the strategy as a constant label.
type metrics struct {
	reg           *prometheus.Registry
	requests      *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	authn         map[string]prometheus.Observer
	logins        *prometheus.CounterVec
	logouts       *prometheus.CounterVec
	refreshes     *prometheus.CounterVec
	limiterErrors prometheus.Counter
}

// latencyBuckets span an in-memory lookup (µs) to a store timeout (s).
var latencyBuckets = []float64{
	.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5,
}

func newMetrics(reg *prometheus.Registry, s strategies.Strategy) (*metrics, error) {
	cl := prometheus.Labels{"strategy": s.Name()}
	counter := func(name, help string, labels ...string) *prometheus.CounterVec {
		return prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help, ConstLabels: cl}, labels)
	}
	m := &metrics{
		reg: reg,
		requests: counter("authlab_gateway_requests_total",
			"Data-plane requests answered, by route (the matched route pattern, or \"unmatched\") and status code.", "route", "code"),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "authlab_gateway_request_duration_seconds", Help: "Data-plane request latency in the gateway, by route.",
			ConstLabels: cl, Buckets: latencyBuckets,
		}, []string{"route"}),
		logins: counter("authlab_gateway_logins_total",
			"Login attempts by outcome: success, failure (wrong password), throttled (429), unavailable (auth service or store down).", "outcome"),
		logouts: counter("authlab_gateway_logouts_total",
			"Logouts by outcome: success, no_credential, unavailable.", "outcome"),
		refreshes: counter("authlab_gateway_refreshes_total",
			"Refresh-token exchanges by outcome: success, invalid, reused (a spent token came back; its family is revoked), unavailable.", "outcome"),
		limiterErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "authlab_gateway_login_limiter_errors_total", ConstLabels: cl,
			Help: "Login-limiter calls that failed (Redis unreachable); the login was let through (fail open).",
		}),
	}
	authn := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "authlab_gateway_authenticate_duration_seconds", ConstLabels: cl, Buckets: latencyBuckets,
		Help: "Time the strategy took to authenticate an /api/ request, by outcome: ok, no_credential, invalid, unavailable.",
	}, []string{"outcome"})
	m.authn = make(map[string]prometheus.Observer, 4)
	for _, o := range []string{outcomeOK, outcomeNoCredential, outcomeInvalid, outcomeUnavailable} {
		m.authn[o] = authn.WithLabelValues(o) // every outcome shows, at 0, from the start
	}
	for _, o := range []string{audit.OutcomeSuccess, audit.OutcomeFailure, audit.OutcomeThrottled, audit.OutcomeUnavailable} {
		m.logins.WithLabelValues(o)
	}
	for _, o := range []string{audit.OutcomeSuccess, audit.OutcomeNoCredential, audit.OutcomeUnavailable} {
		m.logouts.WithLabelValues(o)
	}
	if s.Capabilities().Refreshable {
		for _, o := range []string{audit.OutcomeSuccess, audit.OutcomeInvalid, audit.OutcomeReused, audit.OutcomeUnavailable} {
			m.refreshes.WithLabelValues(o)
		}
	}
	cols := []prometheus.Collector{
		m.requests, m.duration, authn, m.logins, m.logouts, m.refreshes, m.limiterErrors,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	}
	if sc, ok := s.(sessionCounter); ok {
		cols = append(cols, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "authlab_gateway_sessions", ConstLabels: cl,
			Help: "Live sessions held in this instance's memory (sticky).",
		}, func() float64 { return float64(sc.SessionCount()) }))
	}
	if cs, ok := s.(cacheStatser); ok {
		cols = append(cols,
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "authlab_gateway_cache_hits_total", ConstLabels: cl,
				Help: "Authentications answered from this instance's credential cache (opaque).",
			}, func() float64 { h, _ := cs.HitsMisses(); return float64(h) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{
				Name: "authlab_gateway_cache_misses_total", ConstLabels: cl,
				Help: "Authentications of well-formed credentials not in this instance's cache (opaque).",
			}, func() float64 { _, mi := cs.HitsMisses(); return float64(mi) }))
	}
	if ce, ok := s.(cacheEvicter); ok {
		cols = append(cols, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "authlab_gateway_cache_evictions_total", ConstLabels: cl,
			Help: "Entries dropped from this instance's credential cache because it was full (opaque).",
		}, func() float64 { return float64(ce.CacheEvictions()) }))
	}
	for _, c := range cols {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("gateway: register metrics: %w", err)
		}
	}
	return m, nil
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) request(route string, status int, took time.Duration) {
	if route == "" {
		route = unmatchedRoute
	}
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.duration.WithLabelValues(route).Observe(took.Seconds())
}

func (m *metrics) authenticated(outcome string, took time.Duration) {
	m.authn[outcome].Observe(took.Seconds())
}
