package scale

import (
	"fmt"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/authlab/authlab/bench/report"
	"github.com/authlab/authlab/internal/redisx/redisserver"
)

// MemoryChartFile is the run's chart, beside scale.md.
const MemoryChartFile = "scale-memory.png"

// Markdown renders res; chart is the chart's file name ("" when none).
func Markdown(res *Result, chart string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# authlab scale — %s\n\n", res.ID)
	e := res.Environment
	fmt.Fprintf(&b, "Machine: %s/%s, %d CPUs (%s), %s, kernel %s; commit %s. One gateway behind the lb per strategy; numbers from one run, standing alone.\n\n",
		e.OS, e.Arch, e.CPUs, e.CPUModel, e.GoVersion, e.Kernel, e.GitCommit)
	fmt.Fprintf(&b, "Sessions: %s, minted by the **preload path** (%s).\n\n", sizesText(res.Sizes), res.Minting)
	if len(res.GatewayArgs) > 0 {
		fmt.Fprintf(&b, "Gateway flags: `%s`.\n\n", strings.Join(res.GatewayArgs, " "))
	}
	for _, s := range res.Strategies {
		if s.RedisKind == redisserver.KindEmbedded {
			fmt.Fprintf(&b, "> **Warning:** %s ran on the embedded miniredis fallback (no `redis-server` on PATH): it keeps no memory account, so its Redis memory was not measured.\n\n", s.Strategy)
		}
	}
	if chart != "" {
		fmt.Fprintf(&b, "![memory per session](%s)\n\n", chart)
	}
	memoryTable(&b, res)
	probeTable(&b, res)
	stormTable(&b, res)
	for _, s := range res.Strategies {
		if s.Error != "" {
			fmt.Fprintf(&b, "**%s failed:** %s\n\n", s.Strategy, s.Error)
		}
	}
	return b.String()
}

func memoryTable(b *strings.Builder, res *Result) {
	b.WriteString("## Memory per session\n\n")
	b.WriteString("Measured: the growth of the gateway's live heap after a forced GC, and of Redis's `used_memory`, since before the first session, divided by the live sessions. ")
	b.WriteString("Estimate: written from the data structures before measuring — for the gateway, the strategy's own (`Descriptor.HeapPerSession`: its entries, maps at a typical load, size classes); for Redis, one string key of the sampled key and value lengths with Redis 7's dictEntry, robj/sds, expires entry and buckets, in jemalloc's size classes. ")
	b.WriteString("At small sizes fixed costs (pools, table growth) weigh on the measurement.\n\n")
	b.WriteString("| strategy | sessions | preload | gateway heap / session | estimate | measured ÷ estimate | Redis / session | estimate | measured ÷ estimate |\n")
	b.WriteString("|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range res.Strategies {
		for _, p := range s.Points {
			redis, rest, rratio := "—", "—", "—"
			if p.RedisBytes != 0 {
				redis = fmt.Sprintf("%.0f B", p.RedisPerSession)
				rest, rratio = estimateCells(p.RedisPerSession, p.RedisEstimate)
			}
			hest, hratio := estimateCells(p.HeapPerSession, p.HeapEstimate)
			fmt.Fprintf(b, "| %s | %s | %.1f s | %.0f B | %s | %s | %s | %s | %s |\n",
				s.Strategy, count(p.Sessions), p.PreloadSeconds, p.HeapPerSession, hest, hratio, redis, rest, rratio)
		}
	}
	b.WriteString("\n")
}

func estimateCells(measured float64, est *float64) (string, string) {
	if est == nil || *est <= 0 {
		return "—", "—"
	}
	return fmt.Sprintf("%.0f B", *est), fmt.Sprintf("%.2f", measured / *est)
}

func probeTable(b *strings.Builder, res *Result) {
	if res.Probe.Rate <= 0 {
		return
	}
	dist := "uniform"
	if res.Probe.Skew > 1 {
		dist = fmt.Sprintf("Zipf s=%.2f", res.Probe.Skew)
	}
	fmt.Fprintf(b, "## /api/me at each size\n\n%.0f requests/s for %s, users drawn %s over the sessions; latency from each request's intended send time. ", res.Probe.Rate, res.Probe.Duration, dist)
	b.WriteString("The cache hit ratio is the gateway cache's (opaque) during the probe: it falls once the users touched outgrow `--opaque-cache-size` (default 100000) or come back later than `--opaque-cache-ttl`. ")
	b.WriteString("Beside it, the best any cache could do: every user's first request misses (1 − distinct users ÷ requests); the gap between the two is the misses the cache's size and TTL cost.\n\n")
	b.WriteString("| strategy | sessions | distinct users | achieved rps | p50 ms | p99 ms | errors | cache hit ratio | best possible |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, s := range res.Strategies {
		for _, p := range s.Points {
			if p.Probe == nil {
				continue
			}
			hit, best := "—", "—"
			if p.Probe.CacheHitRatio != nil && p.Probe.Requests > 0 {
				hit = fmt.Sprintf("%.1f %%", 100**p.Probe.CacheHitRatio)
				best = fmt.Sprintf("%.1f %%", 100*(1-float64(p.Probe.Distinct)/float64(p.Probe.Requests)))
			}
			fmt.Fprintf(b, "| %s | %s | %s | %.0f | %.2f | %.2f | %s | %s | %s |\n", s.Strategy, count(p.Sessions), count(p.Probe.Distinct),
				p.Probe.Achieved, p.Probe.P50Ms, p.Probe.P99Ms, classes(p.Probe.Errors, p.Probe.ErrorsByClass), hit, best)
		}
	}
	b.WriteString("\n")
}

func stormTable(b *strings.Builder, res *Result) {
	if len(res.Storm.Rates) == 0 {
		return
	}
	fmt.Fprintf(b, "## Login storm after a restart\n\nReal logins (password checked by the auth service at bcrypt cost %d, then the strategy's Login) through the lb, each rate for %.0f s, until one misses the bound: p99 ≤ %.0f ms, ≤ 1 %% failed, ≥ 95 %% of the rate achieved.\n\n",
		res.BcryptCost, res.Storm.StepS, res.Storm.P99Ms)
	b.WriteString("| strategy | logins/s within the bound | steps (rate: achieved, p50, p99, failed) |\n|---|---:|---|\n")
	for _, s := range res.Strategies {
		if s.Storm == nil {
			continue
		}
		var steps []string
		for _, st := range s.Storm.Steps {
			mark := ""
			if !st.Within {
				mark = " ✗"
			}
			steps = append(steps, fmt.Sprintf("%.0f: %.0f/s, %.1f ms, %.1f ms, %s%s", st.Rate, st.Achieved, st.P50Ms, st.P99Ms, classes(st.Failed, st.FailedByClass), mark))
		}
		fmt.Fprintf(b, "| %s | %s | %s |\n", s.Strategy, s.Storm.maxText(), strings.Join(steps, "; "))
	}
	b.WriteString("\n")
}

func sizesText(sizes []int) string {
	parts := make([]string, len(sizes))
	for i, n := range sizes {
		parts[i] = count(n)
	}
	return strings.Join(parts, ", ")
}

// count writes n with thousands separators.
func count(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// memoryPanel is one panel of the memory chart: which bytes per session
// it draws.
type memoryPanel struct {
	title    string
	measured func(Point) (float64, bool)
	estimate func(Point) *float64
}

var memoryPanels = []memoryPanel{
	{"gateway live heap per session", func(p Point) (float64, bool) { return p.HeapPerSession, true },
		func(p Point) *float64 { return p.HeapEstimate }},
	{"Redis used_memory per session", func(p Point) (float64, bool) { return p.RedisPerSession, p.RedisBytes != 0 },
		func(p Point) *float64 { return p.RedisEstimate }},
}

// MemoryCharts draws bytes per session against sessions (log scale),
// one panel for the gateway heap and one for Redis: a solid line per
// strategy, its estimate dashed in the same colour. The y axes start at
// zero so that the eye reads ratios.
func MemoryCharts(res *Result) ([]*plot.Plot, error) {
	var plots []*plot.Plot
	for _, mp := range memoryPanels {
		p := plot.New()
		p.Title.Text = mp.title
		p.X.Label.Text = "live sessions (log scale)"
		p.Y.Label.Text = "bytes per session"
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = sizeTicks(res.Sizes)
		p.Y.Tick.Marker = report.PlainTicks{Ticker: plot.DefaultTicks{}}
		p.Legend.Top, p.Legend.Left = true, false
		top, lines := 0.0, 0
		for i, s := range res.Strategies {
			var meas, est plotter.XYs
			for _, pt := range s.Points {
				if v, ok := mp.measured(pt); ok {
					meas = append(meas, plotter.XY{X: float64(pt.Sessions), Y: math.Max(v, 0)})
					top = math.Max(top, v)
				}
				if e := mp.estimate(pt); e != nil {
					est = append(est, plotter.XY{X: float64(pt.Sessions), Y: *e})
					top = math.Max(top, *e)
				}
			}
			if len(meas) == 0 {
				continue
			}
			c := plotColor(i)
			l, sc, err := plotter.NewLinePoints(meas)
			if err != nil {
				return nil, fmt.Errorf("scale chart: %w", err)
			}
			l.Color, sc.Color, sc.Shape = c, c, draw.CircleGlyph{}
			p.Add(l, sc)
			p.Legend.Add(s.Strategy, l, sc)
			if len(est) > 0 {
				le, err := plotter.NewLine(est)
				if err != nil {
					return nil, fmt.Errorf("scale chart: %w", err)
				}
				le.Color, le.Dashes = c, []vg.Length{vg.Points(4), vg.Points(3)}
				p.Add(le)
				p.Legend.Add(s.Strategy+" estimate", le)
			}
			lines++
		}
		if lines == 0 {
			continue
		}
		p.Add(plotter.NewGrid())
		p.Y.Min, p.Y.Max = 0, math.Max(top, 1)*1.7 // room for the legend above the lines
		plots = append(plots, p)
	}
	if len(plots) == 0 {
		return nil, fmt.Errorf("scale chart: no strategy measured")
	}
	return plots, nil
}

// sizeTicks labels the sizes measured (1k, 10k, 100k, 1M).
func sizeTicks(sizes []int) plot.ConstantTicks {
	var ts []plot.Tick
	for _, n := range sizes {
		ts = append(ts, plot.Tick{Value: float64(n), Label: shortCount(n)})
	}
	return ts
}

// shortCount writes 1000 as 1k and 1000000 as 1M.
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dM", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// SaveMemoryChart writes MemoryCharts(res), side by side, to path (PNG).
func SaveMemoryChart(res *Result, path string) error {
	plots, err := MemoryCharts(res)
	if err != nil {
		return err
	}
	if err := report.SavePanels(plots, path); err != nil {
		return fmt.Errorf("scale %w", err)
	}
	return nil
}

func plotColor(i int) color.Color {
	palette := []color.Color{
		color.RGBA{R: 31, G: 119, B: 180, A: 255}, color.RGBA{R: 214, G: 39, B: 40, A: 255},
		color.RGBA{R: 44, G: 160, B: 44, A: 255}, color.RGBA{R: 148, G: 103, B: 189, A: 255},
		color.RGBA{R: 255, G: 127, B: 14, A: 255},
	}
	return palette[i%len(palette)]
}
