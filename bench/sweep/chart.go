package sweep

import (
	"fmt"
	"image/color"
	"math"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"

	"github.com/authlab/authlab/bench/report"
)

// FrontierChartFile is the sweep's chart, beside sweep.md.
const FrontierChartFile = "sweep-frontier.png"

// Frontier is the chart of the sweep: one point per setting, Redis
// commands per request across, revocation lag p99 up (log scale: lags
// run from milliseconds to tens of seconds), each labelled with its
// setting. A point whose credentials were never all revoked within the
// timeout is drawn at the timeout, hollow. No legend: the labels say it.
func Frontier(sw *Sweep) (*plot.Plot, error) {
	return frontier(fmt.Sprintf("%s: revocation lag against Redis load", sw.Strategy), sw.of(KindCache))
}

// frontier is the revocation-lag-against-Redis-load chart of rs.
func frontier(title string, rs []Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "Redis commands per request (steady)"
	p.Y.Label.Text = "revocation lag p99 (ms, log scale)"
	// The y values are log10(ms) on a linear axis with decade ticks: with
	// gonum's LogScale the rotated axis label is padded for as if it sat
	// near the top, pushing the plot far below its title.
	p.Y.Tick.Marker = decadeTicks{}
	var solid, hollow plotter.XYs
	var labels []string
	var at plotter.XYs
	for _, r := range rs {
		if r.RedisCommandsPerRequest == nil {
			continue
		}
		x := *r.RedisCommandsPerRequest
		y, done := r.TimeoutS*1000, false
		if r.RevocationP99Ms != nil && r.NotRevoked == 0 {
			y, done = *r.RevocationP99Ms, true
		}
		y = math.Log10(math.Max(y, 0.1)) // log scale
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
		sc, err := blackPoints(set.xy, set.shape)
		if err != nil {
			return nil, err
		}
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
	// Room around the points: for the labels on the right, and off the
	// axes (a point at 0 commands would sit on the y axis).
	lo, hi := math.Inf(1), 0.0
	for _, xy := range at {
		lo, hi = math.Min(lo, xy.Y), math.Max(hi, xy.Y)
	}
	p.Y.Min, p.Y.Max = lo-0.5, hi+0.5
	p.X.Max = math.Max(p.X.Max*1.35, 0.1)
	p.X.Min = -0.05 * p.X.Max
	return p, nil
}

// decadeTicks marks a log10 axis: a labelled tick at every decade (1,
// 10, 100 … ms) and minor ones at 2…9 times it.
type decadeTicks struct{}

// Ticks implements plot.Ticker.
func (decadeTicks) Ticks(lo, hi float64) []plot.Tick {
	var out []plot.Tick
	for k := math.Floor(lo); k <= math.Ceil(hi); k++ {
		for m := 1.0; m < 10; m++ {
			v := k + math.Log10(m)
			if v < lo || v > hi {
				continue
			}
			t := plot.Tick{Value: v}
			if m == 1 {
				t.Label = strconv.FormatFloat(math.Pow(10, k), 'f', -1, 64)
			}
			out = append(out, t)
		}
	}
	return out
}

// SaveChart writes the chart of sw's points of kind to path (PNG).
func SaveChart(sw *Sweep, kind, path string) error {
	var (
		plots []*plot.Plot
		err   error
	)
	switch kind {
	case KindCache, "":
		var p *plot.Plot
		p, err = Frontier(sw)
		plots = []*plot.Plot{p}
	case KindDenylist:
		var p *plot.Plot
		p, err = frontier("jwt: revocation lag against Redis load, denylist off and on", sw.of(KindDenylist))
		plots = []*plot.Plot{p}
	case KindAlg:
		plots, err = algCharts(sw.of(KindAlg))
	case KindAccessTTL:
		plots, err = accessTTLCharts(sw.of(KindAccessTTL))
	default:
		err = fmt.Errorf("sweep chart: unknown kind %q", kind)
	}
	if err != nil {
		return err
	}
	if err := report.SavePanels(plots, path); err != nil {
		return fmt.Errorf("sweep %w", err)
	}
	return nil
}

// SaveFrontier writes the chart of sw's cache points to path (PNG).
func SaveFrontier(sw *Sweep, path string) error {
	return SaveChart(sw, KindCache, path)
}

// algCharts are the alg sweep's panels: each run's micro-benchmark ns/op
// per algorithm (the evidence), and each run's p50 (separate runs, not a
// verdict). A dot per run, a bar at the median, the axes from zero so
// that the eye reads ratios.
func algCharts(rs []Result) ([]*plot.Plot, error) {
	gs := algGroups(rs)
	if len(gs) == 0 {
		return nil, fmt.Errorf("sweep chart: no alg point")
	}
	names := make([]string, len(gs))
	micro, p50 := make([][]float64, len(gs)), make([][]float64, len(gs))
	for i, g := range gs {
		names[i], p50[i] = g.alg, g.p50
		for _, ns := range g.micro {
			micro[i] = append(micro[i], ns/1000)
		}
	}
	a, err := categoryDots("Authenticate in process (micro-benchmark): the evidence", "µs per Authenticate call (in process)", names, micro)
	if err != nil {
		return nil, err
	}
	b, err := categoryDots("end-to-end p50: separate runs, not a verdict", "p50 latency, lb → gateway → backend (ms)", names, p50)
	if err != nil {
		return nil, err
	}
	return []*plot.Plot{a, b}, nil
}

// categoryDots plots vals[i] (one dot per run) above category names[i],
// with a bar at each category's median labelled with its value.
func categoryDots(title, ylabel string, names []string, vals [][]float64) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = "signing algorithm (--jwt-alg); a dot per run, bar at the median"
	var ticks []plot.Tick
	var dots, meds plotter.XYs
	var medLabels []string
	bars := make(plotter.Values, len(vals))
	top := 0.0
	for i, vs := range vals {
		x := float64(i)
		ticks = append(ticks, plot.Tick{Value: x, Label: names[i]})
		for j, v := range vs {
			// Spread a category's dots a little so that equal values stay
			// visible.
			off := 0.
			if len(vs) > 1 {
				off = (float64(j)/float64(len(vs)-1) - 0.5) * 0.2
			}
			dots = append(dots, plotter.XY{X: x + off, Y: v})
			top = math.Max(top, v)
		}
		if m := median(vs); !math.IsNaN(m) {
			bars[i] = m
			meds = append(meds, plotter.XY{X: x, Y: m})
			medLabels = append(medLabels, fmtNum(m))
		}
	}
	if len(dots) == 0 {
		return nil, fmt.Errorf("sweep chart: %s: no value", title)
	}
	bc, err := plotter.NewBarChart(bars, vg.Points(40))
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	bc.Color = color.Gray{Y: 200}
	bc.LineStyle.Width = 0
	sc, err := blackPoints(dots, draw.CircleGlyph{})
	if err != nil {
		return nil, err
	}
	ls, err := plotter.NewLabels(plotter.XYLabels{XYs: meds, Labels: medLabels})
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	for i := range ls.TextStyle {
		ls.TextStyle[i].XAlign, ls.TextStyle[i].YAlign = draw.XCenter, draw.YBottom
	}
	ls.Offset = vg.Point{Y: vg.Points(4)}
	p.Add(bc, plotter.NewGrid(), sc, ls)
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	p.X.Min, p.X.Max = -0.6, float64(len(vals)-1)+0.6
	p.Y.Min, p.Y.Max = 0, top*1.2
	return p, nil
}

// accessTTLCharts are the access-ttl sweep's panels, scaled back to real
// time: the revocation lag (p50 and p99 measured, the expected p99 as a
// line) against the access TTL.
func accessTTLCharts(rs []Result) ([]*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "jwt without denylist: revocation lag, scaled back to real time"
	p.X.Label.Text = "access-token lifetime (min, real)"
	p.Y.Label.Text = "revocation lag (min, real)"
	var p50, p99, expected plotter.XYs
	top := 0.0
	for _, r := range rs {
		ttlMin := r.AccessTTLS * r.TimeScale / 60
		expected = append(expected, plotter.XY{X: ttlMin, Y: expectedLagP99S(r.AccessTTLS*r.TimeScale, r.Sampled) / 60})
		top = math.Max(top, ttlMin)
		if r.RevocationP50Ms == nil || r.RevocationP99Ms == nil {
			continue
		}
		p50 = append(p50, plotter.XY{X: ttlMin, Y: RealLagS(*r.RevocationP50Ms, r.TimeScale) / 60})
		p99 = append(p99, plotter.XY{X: ttlMin, Y: RealLagS(*r.RevocationP99Ms, r.TimeScale) / 60})
		top = math.Max(top, p99[len(p99)-1].Y)
	}
	if len(expected) == 0 {
		return nil, fmt.Errorf("sweep chart: no access-ttl point")
	}
	line, err := plotter.NewLine(expected)
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	line.Color = color.Gray{Y: 100}
	p.Add(plotter.NewGrid(), line)
	p.Legend.Add("expected p99", line)
	for _, set := range []struct {
		xy    plotter.XYs
		name  string
		shape draw.GlyphDrawer
	}{{p99, "p99, scaled back", draw.CircleGlyph{}}, {p50, "p50, scaled back", draw.RingGlyph{}}} {
		if len(set.xy) == 0 {
			continue
		}
		sc, err := blackPoints(set.xy, set.shape)
		if err != nil {
			return nil, err
		}
		p.Add(sc)
		p.Legend.Add(set.name, sc)
	}
	p.Legend.Top, p.Legend.Left = false, false // bottom right: the points climb from bottom left
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), vg.Points(8)
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max, p.Y.Max = top*1.05, top*1.15
	q, err := refreshChart(rs)
	if err != nil {
		return nil, err
	}
	return []*plot.Plot{q, p}, nil
}

// refreshChart is the refreshes per active user per hour, real, against
// the access TTL: measured (from the time between one user's refreshes)
// and expected (a line over the TTLs swept).
func refreshChart(rs []Result) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = "jwt: refreshes per active user, scaled back to real time"
	p.X.Label.Text = "access-token lifetime (min, real)"
	p.Y.Label.Text = "refresh requests per active user per hour (real)"
	var measured, expected, asRun plotter.XYs
	top, right := 0.0, 0.0
	lo, hi := math.Inf(1), 0.0
	for _, r := range rs {
		lo, hi = math.Min(lo, r.AccessTTLS), math.Max(hi, r.AccessTTLS)
		right = math.Max(right, r.AccessTTLS*r.TimeScale/60)
		// What the model expects as run (exp's one-second resolution
		// included), scaled back: where the measured dot should sit.
		y := 3600 / (ExpectedRefreshPeriodS(r.AccessTTLS, r.RefreshAheadS, requestGapS(r)) * r.TimeScale)
		asRun = append(asRun, plotter.XY{X: r.AccessTTLS * r.TimeScale / 60, Y: y})
		top = math.Max(top, y)
		if m := r.RefreshIntervalMeanMs; m != nil && *m > 0 {
			y := 3600 / (*m / 1000 * r.TimeScale)
			measured = append(measured, plotter.XY{X: r.AccessTTLS * r.TimeScale / 60, Y: y})
			top = math.Max(top, y)
		}
	}
	if len(rs) == 0 {
		return nil, fmt.Errorf("sweep chart: no access-ttl point")
	}
	r0 := rs[0]
	// The expected curve, in real time, over the TTLs swept.
	for i := 0; i <= 50; i++ {
		ttl := (lo + (hi-lo)*float64(i)/50) * r0.TimeScale
		y := 3600 / ExpectedRefreshPeriodS(ttl, r0.RefreshAheadS*r0.TimeScale, requestGapS(r0)*r0.TimeScale)
		expected = append(expected, plotter.XY{X: ttl / 60, Y: y})
		top = math.Max(top, y)
	}
	line, err := plotter.NewLine(expected)
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	line.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
	line.Color = color.Gray{Y: 100}
	p.Add(plotter.NewGrid(), line)
	p.Legend.Add("expected for a real client", line)
	rings, err := plotter.NewScatter(asRun)
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	rings.GlyphStyle.Shape, rings.GlyphStyle.Radius, rings.GlyphStyle.Color = draw.RingGlyph{}, vg.Points(6), color.Gray{Y: 90}
	p.Add(rings)
	p.Legend.Add("expected as run (exp: 1 s resolution)", rings)
	if len(measured) > 0 {
		sc, err := blackPoints(measured, draw.CircleGlyph{})
		if err != nil {
			return nil, err
		}
		p.Add(sc)
		p.Legend.Add("measured, scaled back", sc)
	}
	p.Legend.Top = true
	p.Legend.XOffs, p.Legend.YOffs = -vg.Points(8), -vg.Points(8)
	p.Y.Tick.Marker = report.PlainTicks{Ticker: plot.DefaultTicks{}}
	p.X.Min, p.Y.Min = 0, 0
	p.X.Max, p.Y.Max = right*1.05, top*1.25
	return p, nil
}

// blackPoints is xy as the sweep charts draw measured points: black glyphs
// of shape, 4 points in radius.
func blackPoints(xy plotter.XYs, shape draw.GlyphDrawer) (*plotter.Scatter, error) {
	sc, err := plotter.NewScatter(xy)
	if err != nil {
		return nil, fmt.Errorf("sweep chart: %w", err)
	}
	sc.GlyphStyle.Shape, sc.GlyphStyle.Radius, sc.GlyphStyle.Color = shape, vg.Points(4), color.Black
	return sc, nil
}
