package report

import (
	"fmt"
	"image/color"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// RedisRTTChartFile is the file name of the redis-rtt chart.
const RedisRTTChartFile = "redis-rtt.png"

// appendRedisRTTChart writes the redis-rtt chart of r (when it has one)
// into dir and returns files with its path appended.
func appendRedisRTTChart(files []string, dir string, r *Report) ([]string, error) {
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if s.Skipped || s.RedisRTT == nil || len(s.RedisRTT.Steps) == 0 {
			continue
		}
		p, err := redisRTTChart(r.Strategy, s.RedisRTT)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, RedisRTTChartFile)
		if err := save(p, path); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// redisRTTChart plots p50 and p99 against the added Redis round trip,
// with the physics line (first p50 + commands per request × RTT) dashed.
func redisRTTChart(strategy string, r *RedisRTT) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s / redis-rtt: latency against the round trip added to Redis", strategy)
	p.X.Label.Text = "added Redis round trip (ms)"
	p.Y.Label.Text = "request latency (ms, log scale)"
	// Log scale: p99 is often ten times p50, whose growth must stay legible.
	p.Y.Scale, p.Y.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	p.Legend.Top, p.Legend.Left = true, true
	var p50, p99, physics plotter.XYs
	base := r.Steps[0].Latency.P50
	ymax, ymin := 1.0, 1.0
	for _, st := range r.Steps {
		p50 = append(p50, plotter.XY{X: st.AddedRTTMs, Y: st.Latency.P50})
		p99 = append(p99, plotter.XY{X: st.AddedRTTMs, Y: st.Latency.P99})
		ymax = max(ymax, st.Latency.P99)
		ymin = min(ymin, st.Latency.P50)
		if st.ExpectedGrowthMs != nil {
			physics = append(physics, plotter.XY{X: st.AddedRTTMs, Y: base + *st.ExpectedGrowthMs})
			ymax = max(ymax, base+*st.ExpectedGrowthMs)
		}
	}
	for _, series := range []struct {
		name   string
		xys    plotter.XYs
		c      color.Color
		dashed bool
	}{
		{"p50", p50, color.RGBA{B: 200, A: 255}, false},
		{"p99", p99, color.RGBA{R: 200, A: 255}, false},
		{"physics line: first p50 + Redis cmds/req × RTT", physics, color.RGBA{R: 110, G: 110, B: 110, A: 255}, true},
	} {
		if len(series.xys) == 0 {
			continue
		}
		l, s, err := plotter.NewLinePoints(series.xys)
		if err != nil {
			return nil, fmt.Errorf("redis-rtt chart: %w", err)
		}
		l.Color, l.Width, s.Color = series.c, vg.Points(1.5), series.c
		if series.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(3)}
		}
		p.Add(l, s)
		p.Legend.Add(series.name, l, s)
	}
	p.X.Min = 0
	// Headroom above the data (on the log scale) keeps the top-left legend
	// off the lines.
	p.Y.Min, p.Y.Max = max(0.01, ymin/1.5), 5*ymax
	p.Add(plotter.NewGrid())
	return p, nil
}
