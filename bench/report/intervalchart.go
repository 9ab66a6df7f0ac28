package report

import (
	"fmt"
	"image/color"
	"math"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/authlab/authlab/bench/stats"
)

// IntervalChart describes a chart of one estimate per name with its
// interval as an error bar, optional single observations as dots (one
// round each), an optional reference line and an optional shaded band
// around it. It has no legend: the axis labels say what is drawn, so
// nothing covers the data.
type IntervalChart struct {
	Title, XLabel, YLabel string
	Names                 []string
	Intervals             []stats.Interval
	// Dots[i] are name i's single observations (may be nil).
	Dots [][]float64
	// Ref draws a dashed horizontal line at *Ref (nil: none).
	Ref *float64
	// Band shades [*Ref − Band, *Ref + Band] (0: none).
	Band float64
	// Unit follows each estimate's label ("×", " ms").
	Unit string
	// Notes[i], when set, follows name i's estimate (a ratio's verdict, so
	// the chart never shows a ratio without it).
	Notes []string
}

// Plot builds the chart.
func (c IntervalChart) Plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Label.Text = c.XLabel
	p.Y.Label.Text = c.YLabel
	n := len(c.Names)
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v float64) {
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
	}
	if c.Ref != nil {
		see(*c.Ref - c.Band)
		see(*c.Ref + c.Band)
		if c.Band > 0 {
			band, err := plotter.NewPolygon(plotter.XYs{{X: -0.5, Y: *c.Ref - c.Band}, {X: float64(n) - 0.5, Y: *c.Ref - c.Band},
				{X: float64(n) - 0.5, Y: *c.Ref + c.Band}, {X: -0.5, Y: *c.Ref + c.Band}})
			if err != nil {
				return nil, fmt.Errorf("interval chart band: %w", err)
			}
			band.Color = color.RGBA{R: 220, G: 220, B: 220, A: 255}
			band.LineStyle.Width = 0
			p.Add(band)
		}
	}
	p.Add(plotter.NewGrid())
	if c.Ref != nil {
		ref, err := plotter.NewLine(plotter.XYs{{X: -0.5, Y: *c.Ref}, {X: float64(n) - 0.5, Y: *c.Ref}})
		if err != nil {
			return nil, fmt.Errorf("interval chart reference: %w", err)
		}
		ref.Color = color.Gray{Y: 90}
		ref.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
		p.Add(ref)
	}
	var dots plotter.XYs
	for i, ds := range c.Dots {
		for k, v := range ds {
			// Spread a name's dots a little sideways so they do not hide
			// one another.
			dx := 0.06 * (float64(k) - float64(len(ds)-1)/2) / math.Max(1, float64(len(ds)-1)) * 2
			dots = append(dots, plotter.XY{X: float64(i) + 0.18 + dx, Y: v})
			see(v)
		}
	}
	if len(dots) > 0 {
		sc, err := plotter.NewScatter(dots)
		if err != nil {
			return nil, fmt.Errorf("interval chart dots: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.RGBA{R: 90, G: 90, B: 200, A: 255}, Radius: vg.Points(2.5), Shape: draw.RingGlyph{}}
		p.Add(sc)
	}
	var pts errPoints
	// Each estimate is written under its name (with its note), clear of
	// the data.
	ticks := slices.Clone(c.Names)
	for i, iv := range c.Intervals {
		if !iv.Valid() {
			continue
		}
		pts.XYs = append(pts.XYs, plotter.XY{X: float64(i), Y: iv.Est})
		pts.YErrors = append(pts.YErrors, struct{ Low, High float64 }{iv.Est - iv.Lo, iv.Hi - iv.Est})
		l := num(iv.Est) + c.Unit
		if i < len(c.Notes) && c.Notes[i] != "" {
			l += " " + c.Notes[i]
		}
		if i < len(ticks) {
			ticks[i] += "\n" + l
		}
		see(iv.Lo)
		see(iv.Hi)
	}
	if len(pts.XYs) > 0 {
		bars, err := plotter.NewYErrorBars(pts)
		if err != nil {
			return nil, fmt.Errorf("interval chart bars: %w", err)
		}
		bars.LineStyle.Width = vg.Points(1.5)
		bars.CapWidth = vg.Points(10)
		sc, err := plotter.NewScatter(pts.XYs)
		if err != nil {
			return nil, fmt.Errorf("interval chart points: %w", err)
		}
		sc.GlyphStyle = draw.GlyphStyle{Color: color.Black, Radius: vg.Points(3.5), Shape: draw.CircleGlyph{}}
		p.Add(bars, sc)
	}
	p.NominalX(ticks...)
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	if math.IsInf(lo, 1) {
		lo, hi = 0, 1
	}
	pad := math.Max((hi-lo)*0.12, math.Abs(hi)*0.01+1e-9)
	p.Y.Min, p.Y.Max = lo-pad, hi+pad
	p.Y.Tick.Marker = roundTicks{}
	return p, nil
}

// errPoints are points with vertical error bars.
type errPoints struct {
	plotter.XYs
	plotter.YErrors
}

// roundTicks labels about ten evenly spaced round values, so a reader can
// read a ratio to two decimals.
type roundTicks struct{}

// Ticks implements plot.Ticker.
func (roundTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 10
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			step = m * mag
			break
		}
	}
	prec := max(0, int(-math.Floor(math.Log10(step)+1e-9)))
	if m := step / math.Pow(10, math.Floor(math.Log10(step)+1e-9)); m != math.Trunc(m) {
		prec++ // 2.5 × 10^k needs one digit more
	}
	var ticks []plot.Tick
	for v := math.Ceil(lo/step) * step; v <= hi+step*1e-9; v += step {
		ticks = append(ticks, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'f', prec, 64)})
		// Unlabelled minor ticks halfway.
		if m := v + step/2; m < hi {
			ticks = append(ticks, plot.Tick{Value: m})
		}
	}
	return ticks
}

// SaveIntervalChart renders c into path (PNG).
func SaveIntervalChart(c IntervalChart, path string) error {
	p, err := c.Plot()
	if err != nil {
		return err
	}
	return save(p, path)
}
