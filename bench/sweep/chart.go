package sweep

import (
	"fmt"
	"image/color"
	"math"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// FrontierChartFile is the sweep's chart, beside sweep.md.
const FrontierChartFile = "sweep-frontier.png"

// Frontier is the chart of the sweep: one point per setting, Redis
// commands per request across, revocation lag p99 up (log scale: lags
// run from milliseconds to tens of seconds), each labelled with its
// setting. A point whose credentials were never all revoked within the
// timeout is drawn at the timeout, hollow. No legend: the labels say it.
func Frontier(sw *Sweep) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = fmt.Sprintf("%s: revocation lag against Redis load", sw.Strategy)
	p.X.Label.Text = "Redis commands per request (steady)"
	p.Y.Label.Text = "revocation lag p99 (ms, log scale)"
	p.Y.Scale = plot.LogScale{}
	p.Y.Tick.Marker = plot.LogTicks{Prec: -1}
	var solid, hollow plotter.XYs
	var labels []string
	var at plotter.XYs
	for _, r := range sw.Points {
		if r.RedisCommandsPerRequest == nil {
			continue
		}
		x := *r.RedisCommandsPerRequest
		y, done := r.TimeoutS*1000, false
		if r.RevocationP99Ms != nil && r.NotRevoked == 0 {
			y, done = *r.RevocationP99Ms, true
		}
		y = math.Max(y, 0.1) // log scale
		if done {
			solid = append(solid, plotter.XY{X: x, Y: y})
		} else {
			hollow = append(hollow, plotter.XY{X: x, Y: y})
		}
		at = append(at, plotter.XY{X: x, Y: y})
		labels = append(labels, r.Label)
	}
	if len(at) == 0 {
		return nil, fmt.Errorf("sweep chart: no point with Redis counts")
	}
	for _, set := range []struct {
		xy    plotter.XYs
		shape draw.GlyphDrawer
	}{{solid, draw.CircleGlyph{}}, {hollow, draw.RingGlyph{}}} {
		if len(set.xy) == 0 {
			continue
		}
		sc, err := plotter.NewScatter(set.xy)
		if err != nil {
			return nil, fmt.Errorf("sweep chart: %w", err)
		}
		sc.GlyphStyle.Shape, sc.GlyphStyle.Radius, sc.GlyphStyle.Color = set.shape, vg.Points(4), color.Black
		p.Add(sc)
	}
	ls, err := plotter.NewLabels(plotter.XYLabels{XYs: at, Labels: labels})
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	for i := range ls.TextStyle {
		ls.TextStyle[i].XAlign, ls.TextStyle[i].YAlign = draw.XLeft, draw.YCenter
	}
	ls.Offset = vg.Point{X: vg.Points(6)}
	p.Add(ls, plotter.NewGrid())
	p.X.Min = 0
	p.X.Max = math.Max(p.X.Max*1.35, 0.1) // room for the labels on the right
	return p, nil
}

// SaveFrontier writes the chart of sw to path (PNG).
func SaveFrontier(sw *Sweep, path string) error {
	p, err := Frontier(sw)
	if err != nil {
		return err
	}
	if err := p.Save(9*vg.Inch, 5*vg.Inch, path); err != nil {
		return fmt.Errorf("sweep chart: %w", err)
	}
	return nil
}
