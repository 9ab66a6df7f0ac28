package report

import (
	"fmt"
	"image/color"
	"math"
	"path/filepath"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// FailoverChartFile is the file name of one failover phase's timeline
// chart (name is the phase's scenario name, e.g. failover-crash-noretry).
func FailoverChartFile(name string) string { return name + "-timeline.png" }

// failoverPhases returns the failover phases of r: every scenario with a
// Failover result, then its variants, each with the name its chart takes.
func failoverPhases(r *Report) []*Scenario {
	var out []*Scenario
	for i := range r.Scenarios {
		s := &r.Scenarios[i]
		if s.Skipped || s.Failover == nil || s.Failover.KillMode == "" {
			continue // (reports from before kill modes get no timeline chart)
		}
		out = append(out, s)
		for j := range s.Failover.Variants {
			out = append(out, &s.Failover.Variants[j])
		}
	}
	return out
}

// failoverPhaseName is the name of a failover phase's chart: its
// variant's name (failover-<mode>-<retry>), for the first phase too.
func failoverPhaseName(s *Scenario) string {
	f := s.Failover
	if f == nil || f.KillMode == "" {
		return s.Name
	}
	r := "noretry"
	if f.Retry {
		r = "retry"
	}
	return fmt.Sprintf("failover-%s-%s", f.KillMode, r)
}

// appendFailoverCharts writes a timeline chart per failover phase of r
// into dir and returns files with their paths appended.
func appendFailoverCharts(files []string, dir string, r *Report) ([]string, error) {
	for _, s := range failoverPhases(r) {
		if len(s.Timeline) == 0 {
			continue
		}
		p, err := failoverChart(r.Strategy, s)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, FailoverChartFile(failoverPhaseName(s)))
		if err := save(p, path); err != nil {
			return nil, err
		}
		files = append(files, path)
	}
	return files, nil
}

// failoverChart is one failover phase over time: answered and failed
// requests per second, the p99 latency, and the kill, the lb's detection
// and the revive marked.
func failoverChart(strategy string, s *Scenario) (*plot.Plot, error) {
	f := s.Failover
	p := plot.New()
	retry := "without"
	if f.Retry {
		retry = "with"
	}
	p.Title.Text = fmt.Sprintf("%s / failover: %s of %s, %s lb retry — detection %s, %d failed, %d to the dead instance",
		strategy, orText(f.KillMode, "kill"), f.KilledInstance, retry, detectionText(f.DetectionS), f.FailedRequests, f.DeadInstanceRequests)
	p.X.Label.Text = "seconds since start of load (by intended send time)"
	p.Y.Label.Text = "requests per second"
	p.Legend.Top = true
	p.Legend.Left = true
	tl := s.Timeline
	if n := int(s.DurationS); n > 0 && n < len(tl) {
		tl = tl[:n] // the last, partial second would read as a drop
	}
	ok := make(plotter.XYs, len(tl))
	failed := make(plotter.XYs, len(tl))
	ymax := 1.0
	for i, sec := range tl {
		x := float64(sec.T) + 0.5
		ok[i] = plotter.XY{X: x, Y: float64(sec.OK)}
		failed[i] = plotter.XY{X: x, Y: float64(sec.Requests - sec.OK)}
		ymax = max(ymax, float64(sec.Requests))
	}
	for _, series := range []struct {
		name   string
		xys    plotter.XYs
		c      color.Color
		dashed bool
	}{
		{"answered OK /s", ok, color.RGBA{B: 200, A: 255}, false},
		{"failed /s", failed, color.RGBA{R: 220, G: 100, A: 255}, true},
	} {
		l, err := plotter.NewLine(series.xys)
		if err != nil {
			return nil, fmt.Errorf("failover chart: %w", err)
		}
		l.Color, l.Width = series.c, vg.Points(1.5)
		if series.dashed {
			l.Dashes = []vg.Length{vg.Points(5), vg.Points(2)}
		}
		p.Add(l)
		p.Legend.Add(series.name, l)
	}
	marks := []struct {
		name string
		at   *float64
		c    color.Color
	}{
		{fmt.Sprintf("%s at %s s", orText(f.KillMode, "kill"), num(f.KillAtS)), &f.KillAtS, color.RGBA{R: 200, A: 255}},
		{"lb marks it down (+" + detectionText(f.DetectionS) + ")", detectionAt(f), color.RGBA{R: 230, G: 140, A: 255}},
		{fmt.Sprintf("revive at %s s", num(f.ReviveAtS)), reviveAt(f, s), color.RGBA{G: 150, A: 255}},
	}
	for _, m := range marks {
		if m.at == nil {
			continue
		}
		l, err := plotter.NewLine(plotter.XYs{{X: *m.at, Y: 0}, {X: *m.at, Y: ymax * 1.1}})
		if err != nil {
			return nil, fmt.Errorf("failover chart: %w", err)
		}
		l.Color, l.Width = m.c, vg.Points(2)
		l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(l)
		p.Legend.Add(m.name, l)
	}
	p.Y.Min, p.Y.Max = 0, ymax*1.9 // headroom: the legend sits above the data
	p.X.Min, p.X.Max = 0, float64(len(tl))
	p.X.Tick.Marker = stepTicks(1)
	p.Y.Tick.Marker = stepTicks(niceStep(p.Y.Max / 8))
	p.Add(plotter.NewGrid())
	return p, nil
}

// detectionAt is when the lb marked the instance down, from the start of
// the load (nil when it did not).
func detectionAt(f *Failover) *float64 {
	if f.DetectionS == nil {
		return nil
	}
	return Float(f.KillAtS + *f.DetectionS)
}

// reviveAt is the revive's time, nil when it fell after the phase.
func reviveAt(f *Failover, s *Scenario) *float64 {
	if f.ReviveAtS > s.DurationS+1 {
		return nil
	}
	return &f.ReviveAtS
}

func detectionText(v *float64) string {
	if v == nil {
		return "none before the revive"
	}
	return num(*v) + " s"
}

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// stepTicks marks every step, labelling each (at most 40 labels: every
// other one beyond).
type stepTicks float64

// Ticks implements plot.Ticker.
func (t stepTicks) Ticks(lo, hi float64) []plot.Tick {
	step := float64(t)
	if step <= 0 || hi <= lo {
		return nil
	}
	label := 1
	for (hi-lo)/step/float64(label) > 40 {
		label *= 2
	}
	var out []plot.Tick
	for i, v := 0, math.Ceil(lo/step)*step; v <= hi; i, v = i+1, v+step {
		tk := plot.Tick{Value: v}
		if i%label == 0 {
			tk.Label = strconv.FormatFloat(v, 'f', -1, 64)
		}
		out = append(out, tk)
	}
	return out
}

// niceStep rounds v up to 1, 2 or 5 times a power of ten.
func niceStep(v float64) float64 {
	if v <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}
