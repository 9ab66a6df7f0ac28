package report

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// WritePairedRun writes paired.json, the charts and paired.md into dir.
func WritePairedRun(dir string, run *PairedRun) error {
	if err := run.WriteJSON(filepath.Join(dir, PairedJSONFile)); err != nil {
		return err
	}
	if err := WritePairedCharts(dir, run); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(dir, PairedMDFile))
	if err != nil {
		return fmt.Errorf("create paired.md: %w", err)
	}
	if err := RenderPaired(f, run); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// WritePairedCharts writes the ratio chart (every pool's p50 ratio to the
// control with its interval, one dot per round, the noise band shaded) and
// the rounds chart (every pool's p50 per round with its median) into dir.
func WritePairedCharts(dir string, run *PairedRun) error {
	one := 1.0
	rc := IntervalChart{
		Title: fmt.Sprintf("latency p50 relative to `%s`, measured side by side (%d rounds)", run.ControlPool, len(run.Rounds)),
		XLabel: fmt.Sprintf("pool · bar: 95%% interval · rings: single rounds · shaded: A/A noise band ±%s%%",
			num(100*run.Summary.NoiseFloor.P50)),
		YLabel: fmt.Sprintf("p50 latency / %s p50 (×)", run.ControlPool),
		Ref:    &one, Band: run.Summary.NoiseFloor.P50, Unit: "×",
	}
	ac := IntervalChart{
		Title:  "latency p50 per pool: median over rounds",
		XLabel: "pool · bar: 95% interval of the median · rings: single rounds",
		YLabel: "p50 latency (ms)", Unit: " ms",
	}
	rc.addP50Ratios(run)
	for _, pi := range run.Pools {
		s := run.Summary.Pool(pi.Pool)
		if pi.Pool == run.AAPool {
			s = &run.Summary.AA
		}
		if s == nil {
			continue
		}
		ac.Names = append(ac.Names, pi.Pool)
		ac.Intervals = append(ac.Intervals, s.P50Ms)
		var dots []float64
		for _, r := range run.Rounds {
			for _, p := range r.Pools {
				if p.Pool == pi.Pool {
					dots = append(dots, p.Latency.P50)
				}
			}
		}
		ac.Dots = append(ac.Dots, dots)
	}
	if err := SaveIntervalChart(rc, filepath.Join(dir, PairedRatioChart)); err != nil {
		return err
	}
	return SaveIntervalChart(ac, filepath.Join(dir, PairedRoundChart))
}

// RenderPaired writes paired.md for run.
func RenderPaired(w io.Writer, run *PairedRun) error {
	var b strings.Builder
	st := run.Settings
	fmt.Fprintf(&b, "# authlab paired comparison — %s\n\n", strings.Join(st.Strategies, ", "))
	fmt.Fprintf(&b, "Run `%s`, %s → %s (UTC). Every pool below ran **at the same moment**, behind its own lb, "+
		"sharing auth, backend and Redis; one attack interleaved their requests. `%s` and `%s` are the same strategy (the A/A pair): "+
		"their difference is the noise floor. Schema version %d; see `results/README.md`.\n\n",
		run.RunID, run.StartedAt.UTC().Format("2006-01-02 15:04:05"), run.FinishedAt.UTC().Format("15:04:05"),
		run.ControlPool, run.AAPool, run.SchemaVersion)
	nf := run.Summary.NoiseFloor
	fmt.Fprintf(&b, "**Noise floor** (A/A `%s`/`%s`): p50 ±%s%% (ratio %s), p90 ±%s%%, p99 ±%s%%. "+
		"A ratio is a finding only when its interval excludes 1 and it differs from 1 by more than the floor.\n\n",
		run.AAPool, run.ControlPool, num(100*nf.P50), ratioText(run.Summary.AA.RatioP50), num(100*nf.P90), num(100*nf.P99))
	for _, wn := range run.Warnings {
		fmt.Fprintf(&b, "> **Warning:** %s\n\n", wn)
	}
	b.WriteString("## Summary\n\n")
	fmt.Fprintf(&b, "| pool | p50 ms | p90 ms | p99 ms | p50 / `%s` (per second) | p50 / `%s` (per round) | p90 / `%s` | p99 / `%s` |\n",
		run.ControlPool, run.ControlPool, run.ControlPool, run.ControlPool)
	b.WriteString("|---|---|---|---|---|---|---|---|\n")
	rows := append([]PoolSummary{}, run.Summary.Pools...)
	rows = append(rows[:min(1, len(rows))], append([]PoolSummary{run.Summary.AA}, rows[min(1, len(rows)):]...)...)
	for _, s := range rows {
		if s.Pool == "" {
			continue
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s | %s | %s | %s | %s |\n", s.Pool, IntervalText(s.P50Ms), IntervalText(s.P90Ms), IntervalText(s.P99Ms),
			labelOr(s.RatioP50, "control"), labelOr(s.RatioP50Rounds, "–"), labelOr(s.RatioP90, "–"), labelOr(s.RatioP99, "–"))
	}
	b.WriteString("\nIntervals are 95% bootstrap intervals: `estimate [low, high]`. " + run.Summary.Method + "\n\n")
	fmt.Fprintf(&b, "![p50 ratio per pool](%s)\n\n![p50 per pool per round](%s)\n\n", PairedRatioChart, PairedRoundChart)
	b.WriteString("## Rounds\n\n")
	b.WriteString("| round | pool | requests | ok | achieved req/s | send lag p99 ms | p50 ms | p90 ms | p99 ms | ratio p50 / p90 / p99 | gateway CPU µs/req (gross) | credential bytes |\n")
	b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range run.Rounds {
		ratios := map[string]RoundRatio{}
		for _, rr := range r.Ratios {
			ratios[rr.Pool] = rr
		}
		for _, p := range r.Pools {
			rt := "control"
			if rr, ok := ratios[p.Pool]; ok {
				rt = fmt.Sprintf("%s / %s / %s", num(rr.P50), num(rr.P90), num(rr.P99))
			}
			lag := "–"
			if p.Load != nil {
				lag = num(p.Load.SendLagP99Ms)
				if p.Load.Saturated {
					lag += " ⚠ saturated"
				}
			}
			fmt.Fprintf(&b, "| %d | `%s` | %d | %d | %s | %s | %s | %s | %s | %s | %s | %s |\n", r.Round, p.Pool, p.Requests, p.OK,
				num(p.AchievedRate), lag, num(p.Latency.P50), num(p.Latency.P90), num(p.Latency.P99), rt,
				num(p.GatewayCPUPerRequestUs), num(p.CredentialBytes))
		}
		for _, p := range r.Pools {
			if p.Load != nil {
				fmt.Fprintf(&b, "\nRound %d: the load generator used %s%% CPU (100 = one core) for every pool at once.\n", r.Round, num(p.Load.GeneratorCPUPercent))
				break
			}
		}
		for _, wn := range r.Warnings {
			fmt.Fprintf(&b, "\n> round %d: %s\n", r.Round, wn)
		}
		for _, p := range r.Pools {
			for _, wn := range p.Warnings {
				fmt.Fprintf(&b, "\n> round %d, pool %s: %s\n", r.Round, p.Pool, wn)
			}
		}
	}
	b.WriteString("\n## Settings\n\n")
	fmt.Fprintf(&b, "%d rounds (a fresh topology each) of %s s measured after %s s of warm-up; %s req/s per pool (%s in all); "+
		"%d users per pool, each logged in through its pool; %d gateways per pool; bcrypt cost %d; path `%s`; "+
		"interleaving: %s; seed %d; %d bootstrap resamples; minimum noise floor %s%%.\n\n",
		st.Rounds, num(st.DurationS), num(st.WarmupS), num(st.RatePerPool), num(st.TotalRate), st.UsersPerPool, st.Instances,
		st.BcryptCost, st.Path, st.Interleave, st.Seed, st.Resamples, num(100*st.MinNoiseFloor))
	b.WriteString("| pool | strategy | lb policy | gateways |\n|---|---|---|---|\n")
	for _, p := range run.Pools {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %d |\n", p.Pool, p.Strategy, p.Policy, p.Instances)
	}
	b.WriteString("\n")
	renderNetwork(&b, st.Network)
	if len(st.Flags) > 0 {
		keys := slices.Sorted(maps.Keys(st.Flags))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = fmt.Sprintf("`--%s=%s`", k, st.Flags[k])
		}
		fmt.Fprintf(&b, "All flags: %s\n\n", strings.Join(parts, " "))
	}
	renderMachine(&b, run.Environment)
	_, err := io.WriteString(w, b.String())
	return err
}

func labelOr(r *Ratio, none string) string {
	if r == nil {
		return none
	}
	return r.Label()
}

func ratioText(r *Ratio) string {
	if r == nil || !r.Valid() {
		return "–"
	}
	return RatioText(r.Interval)
}
