package report

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Chart size.
const (
	chartW = 8 * vg.Inch
	chartH = 4 * vg.Inch
)

var eventColors = map[string]color.Color{
	"kill":        color.RGBA{R: 200, A: 255},
	"revive":      color.RGBA{G: 150, A: 255},
	"redis-stop":  color.RGBA{R: 200, B: 200, A: 255},
	"redis-start": color.RGBA{G: 150, B: 150, A: 255},
	"logout":      color.RGBA{R: 120, G: 120, B: 120, A: 255},
}

// WriteCharts writes r's chart images into dir and returns their paths:
// the percentiles chart and one latency-over-time chart per scenario with
// a timeline (the names RenderMarkdown refers to).
func WriteCharts(dir string, r *Report) ([]string, error) {
	var files []string
	if !anyTimeline(r) {
		return nil, nil
	}
	p, err := percentilesChart(r)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, PercentilesChartFile)
	if err := save(p, path); err != nil {
		return nil, err
	}
	files = append(files, path)
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if !hasTimeline(s) {
			continue
		}
		p, err := latencyChart(r.Strategy, s)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, LatencyChartFile(s.Name))
		if err := save(p, path); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	if files, err = appendRedisRTTChart(files, dir, r); err != nil {
		return nil, err
	}
	return appendFailoverCharts(files, dir, r)
}

func save(p *plot.Plot, path string) error {
	wt, err := p.WriterTo(chartW, chartH, "png")
	if err != nil {
		return fmt.Errorf("render %s: %w", path, err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create chart: %w", err)
	}
	if _, err := wt.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close %s: %w", path, err)
	}
	return nil
}

func latencyChart(strategy string, s *Scenario) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s / %s: latency per second (by intended send time)", strategy, s.Name)
	p.X.Label.Text = "seconds since start of load"
	p.Y.Label.Text = "latency (ms)"
	p.Legend.Top = true
	p50 := make(plotter.XYs, len(s.Timeline))
	p99 := make(plotter.XYs, len(s.Timeline))
	errs := make(plotter.XYs, len(s.Timeline))
	ymax := 1.0
	for i, sec := range s.Timeline {
		x := float64(sec.T) + 0.5
		p50[i] = plotter.XY{X: x, Y: sec.P50}
		p99[i] = plotter.XY{X: x, Y: sec.P99}
		ymax = max(ymax, sec.P99)
	}
	for i, sec := range s.Timeline {
		errs[i] = plotter.XY{X: float64(sec.T) + 0.5, Y: (1 - sec.SuccessRate()) * ymax}
	}
	for i, series := range []struct {
		name string
		xys  plotter.XYs
	}{{"p50", p50}, {"p99", p99}, {"error rate (scaled: top = 100%)", errs}} {
		l, err := plotter.NewLine(series.xys)
		if err != nil {
			return nil, fmt.Errorf("latency chart: %w", err)
		}
		l.Color = plotutil.Color(i)
		l.Width = vg.Points(1.5)
		if i == 2 {
			l.Dashes = plotutil.Dashes(2)
		}
		p.Add(l)
		p.Legend.Add(series.name, l)
	}
	for _, ev := range s.Events {
		l, err := plotter.NewLine(plotter.XYs{{X: ev.AtS, Y: 0}, {X: ev.AtS, Y: ymax}})
		if err != nil {
			return nil, fmt.Errorf("latency chart: %w", err)
		}
		c, ok := eventColors[ev.Type]
		if !ok {
			c = color.Black
		}
		l.Color = c
		l.Width = vg.Points(2)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(fmt.Sprintf("%s %s", ev.Type, ev.Instance), l)
	}
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p, nil
}

func percentilesChart(r *Report) (*plot.Plot, error) {
	var names []string
	series := map[string][]float64{}
	order := []string{"p50", "p90", "p99", "p99.9"}
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if !hasTimeline(s) {
			continue
		}
		names = append(names, s.Name)
		series["p50"] = append(series["p50"], s.Latency.P50)
		series["p90"] = append(series["p90"], s.Latency.P90)
		series["p99"] = append(series["p99"], s.Latency.P99)
		series["p99.9"] = append(series["p99.9"], s.Latency.P999)
	}
	return GroupedBars(fmt.Sprintf("%s: latency percentiles per scenario", r.Strategy), "latency (ms)", names, order, series)
}

// GroupedBars builds a bar chart with one group per name and one bar per
// series in order (series[k][i] is the value of bar k in group i).
func GroupedBars(title, ylabel string, names, order []string, series map[string][]float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	w := vg.Points(float64(360) / float64(max(1, len(names)*len(order))))
	w = min(w, vg.Points(28))
	for k, name := range order {
		vals := plotter.Values(series[name])
		if len(vals) == 0 {
			continue
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, fmt.Errorf("bar chart %q: %w", title, err)
		}
		bars.Color = plotutil.Color(k)
		bars.LineStyle.Width = 0
		bars.Offset = vg.Length(float64(k)-float64(len(order)-1)/2) * w
		p.Add(bars)
		if len(order) > 1 {
			p.Legend.Add(name, bars)
		}
	}
	p.NominalX(names...)
	p.Y.Min = 0
	p.Add(plotter.NewGrid())
	return p, nil
}

// SavePNG writes p to path as a PNG of the standard chart size.
func SavePNG(p *plot.Plot, path string) error { return save(p, path) }
