package lb

import (
	"fmt"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// MetricsHandler returns the Prometheus handler (served on the admin
// plane's /metrics).
func (l *LB) MetricsHandler() http.Handler { return l.metrics }

// collector exposes the lb's atomics at scrape time, so the request path
// pays one atomic add per request and no label lookup.
type collector struct {
	l                                          *LB
	requests, state, up, inFlight, retries, nh *prometheus.Desc
}

func (l *LB) registerMetrics() error {
	c := &collector{
		l: l,
		requests: prometheus.NewDesc("authlab_lb_requests_total",
			"Responses relayed (or generated on failure), by instance and HTTP status.", []string{"instance", "code"}, nil),
		state: prometheus.NewDesc("authlab_lb_instance_state",
			"1 for the instance's current state (up, down, killed, frozen, draining), 0 otherwise.", []string{"instance", "state"}, nil),
		up: prometheus.NewDesc("authlab_lb_instance_routable",
			"1 when the instance receives new requests.", []string{"instance"}, nil),
		inFlight: prometheus.NewDesc("authlab_lb_instance_in_flight",
			"Requests in flight at the instance.", []string{"instance"}, nil),
		retries: prometheus.NewDesc("authlab_lb_retries_total",
			"Requests retried on another instance.", nil, nil),
		nh: prometheus.NewDesc("authlab_lb_no_healthy_instance_total",
			"Requests answered 503 because no instance was healthy.", nil, nil),
	}
	for _, col := range []prometheus.Collector{
		c,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := l.registry.Register(col); err != nil {
			return fmt.Errorf("lb: register metrics: %w", err)
		}
	}
	l.metrics = promhttp.HandlerFor(l.registry, promhttp.HandlerOpts{})
	return nil
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.requests, c.state, c.up, c.inFlight, c.retries, c.nh} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	l := c.l
	ch <- prometheus.MustNewConstMetric(c.retries, prometheus.CounterValue, float64(l.retries.Load()))
	ch <- prometheus.MustNewConstMetric(c.nh, prometheus.CounterValue, float64(l.noHealthy.Load()))
	if n := l.noHealthy.Load(); n > 0 {
		ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), "none", "503")
	}
	if !l.ready() {
		return
	}
	for _, in := range l.insts {
		for code := range in.codes {
			if n := in.codes[code].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(c.requests, prometheus.CounterValue, float64(n), in.id, strconv.Itoa(code))
			}
		}
		cur := in.stateName()
		for _, s := range allStates() {
			v := 0.0
			if s == cur {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(c.state, prometheus.GaugeValue, v, in.id, s)
		}
		r := 0.0
		if in.routable() {
			r = 1
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, r, in.id)
		ch <- prometheus.MustNewConstMetric(c.inFlight, prometheus.GaugeValue, float64(in.inFlight.Load()), in.id)
	}
}
