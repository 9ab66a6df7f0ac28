package load

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/authlab/authlab/bench/report"
)

// ServerTimingHeader is the W3C Server-Timing response header the lb and
// the gateway report their hops in.
const ServerTimingHeader = "Server-Timing"

// Metric is one Server-Timing entry.
type Metric struct {
	Name string
	// Dur is the entry's dur parameter; HasDur is false when it had none
	// or an unparsable one.
	Dur    time.Duration
	HasDur bool
}

// ParseServerTiming parses Server-Timing header values (W3C syntax:
// `name;dur=1.23;desc="…"`, comma-separated, across any number of header
// lines). Entries without a name are skipped; a dur that is not a
// non-negative number leaves HasDur false; commas and semicolons inside a
// quoted desc are part of it.
func ParseServerTiming(values []string) []Metric {
	var out []Metric
	for _, v := range values {
		for len(v) > 0 {
			var entry string
			entry, v = cutUnquoted(v, ',')
			if m, ok := parseMetric(entry); ok {
				out = append(out, m)
			}
		}
	}
	return out
}

// parseMetric parses one entry: a name and its parameters.
func parseMetric(entry string) (Metric, bool) {
	name, rest := cutUnquoted(entry, ';')
	m := Metric{Name: strings.TrimSpace(name)}
	if m.Name == "" || strings.ContainsAny(m.Name, " \t\"=") {
		return Metric{}, false
	}
	for len(rest) > 0 {
		var param string
		param, rest = cutUnquoted(rest, ';')
		k, val, _ := strings.Cut(param, "=")
		if !strings.EqualFold(strings.TrimSpace(k), "dur") || m.HasDur {
			continue // desc, unknown parameters, a second dur (the first wins)
		}
		ms, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(val), `"`), 64)
		if err == nil && ms >= 0 && ms < 1e9 {
			m.Dur, m.HasDur = time.Duration(ms*float64(time.Millisecond)), true
		}
	}
	return m, true
}

// cutUnquoted splits s at the first sep outside a quoted string.
func cutUnquoted(s string, sep byte) (before, after string) {
	quoted := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && quoted:
			i++
		case c == '"':
			quoted = !quoted
		case c == sep && !quoted:
			return s[:i], s[i+1:]
		}
	}
	return s, ""
}

// hopSample reads one answer's hop timings: ok when both the lb (lb) and
// the gateway (gw) reported theirs. client is the latency the client saw.
func hopSample(h http.Header, client time.Duration) (report.HopSample, bool) {
	vs := h.Values(ServerTimingHeader)
	if len(vs) == 0 {
		return report.HopSample{}, false
	}
	s := report.HopSample{Client: client}
	var hasLB, hasGW bool
	for _, m := range ParseServerTiming(vs) {
		if !m.HasDur {
			continue
		}
		switch m.Name {
		case "lb":
			s.LB, hasLB = m.Dur, true
		case "gw":
			s.GW, hasGW = m.Dur, true
		case "authn":
			s.Authn = m.Dur
		case "assert":
			s.Assert = m.Dur
		case "upstream":
			s.Upstream = m.Dur
		}
	}
	return s, hasLB && hasGW
}

// observeHops records an answered request's hop timings in pr (counting
// it as missing when it carried none). The caller holds the driver's lock.
func (pr *PhaseResult) observeHops(h http.Header, client time.Duration) {
	if s, ok := hopSample(h, client); ok {
		pr.hops = append(pr.hops, s)
		return
	}
	pr.hopsMissing++
}
