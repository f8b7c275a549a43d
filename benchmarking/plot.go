package main

import (
	"fmt"
	"image/color"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

var palette = []color.Color{
	color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff},
	color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff},
	color.RGBA{R: 0x2c, G: 0xa0, B: 0x2c, A: 0xff},
	color.RGBA{R: 0xff, G: 0x7f, B: 0x0e, A: 0xff},
	color.RGBA{R: 0x94, G: 0x67, B: 0xbd, A: 0xff},
}

// writePlot draws, in the format its extension names (SVG by default),
// two panels over the seconds of the run: durable entries
// per second, and p99 latency of the calls with, per replica that has lag
// data, the p99 lag (the panel's title names the lag only then).
func writePlot(path string, r *results) error {
	thr := plot.New()
	thr.Title.Text = fmt.Sprintf("Sequencer: durable entries/s (%s, %d conns, batch %d)", r.Summary.Mode, r.Config.Conns, r.Config.Batch)
	thr.X.Label.Text = "seconds since load start"
	thr.Y.Label.Text = "entries/s"
	thr.Y.Min = 0
	// The last interval ends with the load and may be a few milliseconds
	// long; its rate is noise, so it is left out here (the JSON keeps it).
	var tp plotter.XYs
	for _, s := range r.Series {
		if s.Dur >= 0.5 {
			tp = append(tp, plotter.XY{X: s.T, Y: s.EntriesPS})
		}
	}
	thr.Y.Tick.Marker = plainTicks{}
	if err := addLine(thr, tp, "", palette[0], false); err != nil {
		return err
	}
	thr.Add(plotter.NewGrid())
	if f := r.Summary.Failover; f != nil && len(f.AtSec) > 0 {
		if err := markKills(thr, tp, f); err != nil {
			return err
		}
	}

	lat := plot.New()
	lat.X.Label.Text = "seconds since load start"
	lat.Y.Label.Text = "ms"
	lat.Y.Min = 0
	var lp plotter.XYs
	for _, s := range r.Series {
		if s.Calls > s.Errors && s.Dur >= 0.5 {
			lp = append(lp, plotter.XY{X: s.T, Y: s.P99})
		}
	}
	if err := addLine(lat, lp, "append p99 (client)", palette[0], false); err != nil {
		return err
	}
	// Replica lag since the entry's timestamp: unlike the lag after the
	// receipt, it does not depend on when the client's batch was answered.
	lagDrawn := false
	for i, rr := range r.Summary.Replicas {
		var xy plotter.XYs
		for _, s := range rr.SeriesFromTS {
			xy = append(xy, plotter.XY{X: s.T, Y: s.P99})
		}
		if len(xy) == 0 {
			continue // no lag measured: neither a line nor a legend entry
		}
		lagDrawn = true
		if err := addLine(lat, xy, "replica "+rr.Name+" lag p99 (since entry timestamp)", palette[(i+1)%len(palette)], true); err != nil {
			return err
		}
	}
	// The title names only what is drawn: no lag without replica data.
	lat.Title.Text = "p99 per second: append latency at the client"
	if lagDrawn {
		lat.Title.Text += ", replica lag"
	}
	lat.Add(plotter.NewGrid())
	lat.Legend.Top, lat.Legend.Left = true, true
	lat.Legend.XOffs = vg.Points(8)
	lat.Y.Tick.Marker = plainTicks{}

	// Same x range on both panels.
	xmax := max(thr.X.Max, lat.X.Max)
	thr.X.Min, lat.X.Min, thr.X.Max, lat.X.Max = 0, 0, xmax, xmax

	const w, h = 9 * vg.Inch, 7 * vg.Inch
	format := strings.ToLower(strings.TrimPrefix(filepath.Ext(path), "."))
	if format == "" {
		format = "svg"
	}
	canvas, err := draw.NewFormattedCanvas(w, h, format) // svg, png, pdf, ...
	if err != nil {
		return err
	}
	dc := draw.New(canvas)
	tiles := draw.Tiles{Rows: 2, Cols: 1, PadTop: vg.Points(4), PadBottom: vg.Points(4), PadLeft: vg.Points(4), PadRight: vg.Points(8), PadY: vg.Points(12)}
	cells := plot.Align([][]*plot.Plot{{thr}, {lat}}, tiles, dc)
	thr.Draw(cells[0][0])
	lat.Draw(cells[1][0])
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := canvas.WriteTo(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// markKills draws a dashed vertical line at each leader kill of
// --failover, over the throughput panel, with one legend entry.
func markKills(p *plot.Plot, tp plotter.XYs, f *failoverOut) error {
	top := 1.0
	for _, xy := range tp {
		top = max(top, xy.Y)
	}
	for i, at := range f.AtSec {
		l, err := plotter.NewLine(plotter.XYs{{X: at, Y: 0}, {X: at, Y: top}})
		if err != nil {
			return err
		}
		l.Color = palette[1]
		l.Dashes = []vg.Length{vg.Points(3), vg.Points(3)}
		p.Add(l)
		if i == 0 {
			p.Legend.Add(fmt.Sprintf("leader killed (outage p50 %.0f ms, max %.0f ms)", f.P50Ms, f.MaxMs), l)
		}
	}
	p.Legend.Top = true
	return nil
}

// addLine draws xy (points one second apart) as a line that breaks where
// seconds are missing: a second without answers has no latency to draw.
func addLine(p *plot.Plot, xy plotter.XYs, name string, c color.Color, dashed bool) error {
	for len(xy) > 0 {
		n := 1
		for n < len(xy) && xy[n].X-xy[n-1].X < 1.5 {
			n++
		}
		l, s, err := plotter.NewLinePoints(xy[:n])
		if err != nil {
			return fmt.Errorf("plot %s: %w", name, err)
		}
		l.Color, s.Color = c, c
		s.Radius = vg.Points(1.5)
		if dashed {
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(2)}
		}
		p.Add(l, s)
		if name != "" {
			p.Legend.Add(name, l)
			name = ""
		}
		xy = xy[n:]
	}
	return nil
}

// plainTicks labels ticks without trailing zeros ("2500", not "2500.00").
type plainTicks struct{}

func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ts := plot.DefaultTicks{}.Ticks(min, max)
	for i := range ts {
		if ts[i].Label != "" {
			ts[i].Label = strconv.FormatFloat(ts[i].Value, 'f', -1, 64)
		}
	}
	return ts
}
