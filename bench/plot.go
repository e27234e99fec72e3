package bench

// This file draws a report as an SVG chart: MB/s against connection count,
// one curve per tool with min-max whiskers, and the ideal as a dashed line.
// The SVG is written by hand: a few dozen elements need no library.

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"math"
	"strings"

	"rget/download"
)

// plotColors are the curves' colors, in tool order.
var plotColors = []string{"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

// Chart geometry, in SVG user units.
const (
	plotW, plotH                = 760, 440
	plotLeft, plotRight         = 70, 150
	plotTop, plotBottom         = 56, 56
	plotInnerW                  = plotW - plotLeft - plotRight
	plotInnerH                  = plotH - plotTop - plotBottom
	plotLegendX                 = plotW - plotRight + 20
	plotFont                    = `font-family="sans-serif"`
	plotMinTop          float64 = 1 // MB/s: the y axis of an all-zero chart
)

// WriteSVG writes the report as an SVG chart.
func (r *Report) WriteSVG(w io.Writer) error {
	var b bytes.Buffer
	top := plotMinTop
	for _, s := range r.Summary {
		top = max(top, s.MaxMBps, s.Ideal)
	}
	step := niceStep(top / 5)
	yMax := math.Ceil(top*1.05/step) * step
	x := func(i int) float64 { return plotLeft + (float64(i)+0.5)*plotInnerW/float64(len(r.Conns)) }
	y := func(v float64) float64 { return plotTop + plotInnerH*(1-v/yMax) }

	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d">`+"\n", plotW, plotH, plotW, plotH)
	fmt.Fprintf(&b, `<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	fmt.Fprintf(&b, `<text x="%d" y="24" %s font-size="16" font-weight="bold">%s</text>`+"\n", plotLeft, plotFont, esc(r.title()))
	fmt.Fprintf(&b, `<text x="%d" y="42" %s font-size="11" fill="#555">%s</text>`+"\n", plotLeft, plotFont, esc(r.subtitle()))

	// Grid, y ticks and axes.
	for v := 0.0; v <= yMax+step/2; v += step {
		fmt.Fprintf(&b, `<line x1="%d" y1="%.1f" x2="%d" y2="%.1f" stroke="#ddd"/>`+"\n", plotLeft, y(v), plotLeft+plotInnerW, y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" %s font-size="11" text-anchor="end">%s</text>`+"\n", plotLeft-6, y(v)+4, plotFont, trimFloat(v))
	}
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotLeft, plotTop, plotLeft, plotTop+plotInnerH)
	fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#333"/>`+"\n", plotLeft, plotTop+plotInnerH, plotLeft+plotInnerW, plotTop+plotInnerH)
	for i, c := range r.Conns {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" %s font-size="11" text-anchor="middle">%d</text>`+"\n", x(i), plotTop+plotInnerH+16, plotFont, c)
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" %s font-size="12" text-anchor="middle">connections</text>`+"\n", plotLeft+plotInnerW/2, plotH-14, plotFont)
	fmt.Fprintf(&b, `<text x="16" y="%d" %s font-size="12" text-anchor="middle" transform="rotate(-90 16 %d)">MB/s</text>`+"\n", plotTop+plotInnerH/2, plotFont, plotTop+plotInnerH/2)

	legendY := plotTop + 10
	legend := func(color, dash, name string) {
		fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"%s/>`+"\n", plotLegendX, legendY, plotLegendX+24, legendY, color, dash)
		fmt.Fprintf(&b, `<text x="%d" y="%d" %s font-size="12">%s</text>`+"\n", plotLegendX+30, legendY+4, plotFont, esc(name))
		legendY += 20
	}

	if r.RatePerConn > 0 {
		var pts []string
		for i, c := range r.Conns {
			if s, ok := r.Stat(r.Tools[0].Name, c); ok && s.Ideal > 0 {
				pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(s.Ideal)))
			}
		}
		fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="#888" stroke-width="1.5" stroke-dasharray="6 4"/>`+"\n", strings.Join(pts, " "))
		legend("#888", ` stroke-dasharray="6 4"`, "ideal")
	}
	for ti, t := range r.Tools {
		color := plotColors[ti%len(plotColors)]
		b.WriteString(r.curve(t.Name, color, x, y))
		legend(color, "", t.Name)
	}
	b.WriteString("</svg>\n")
	_, err := w.Write(b.Bytes())
	return err
}

// curve draws one tool: a polyline through its medians (broken where a
// connection count has no successful run), dots, and min-max whiskers.
func (r *Report) curve(tool, color string, x func(int) float64, y func(float64) float64) string {
	var b strings.Builder
	var pts []string
	flush := func() {
		if len(pts) > 1 {
			fmt.Fprintf(&b, `<polyline points="%s" fill="none" stroke="%s" stroke-width="2"/>`+"\n", strings.Join(pts, " "), color)
		}
		pts = pts[:0]
	}
	for i, c := range r.Conns {
		s, ok := r.Stat(tool, c)
		if !ok || s.OK == 0 {
			flush()
			continue
		}
		pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(s.MBps)))
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="1"/>`+"\n",
			x(i), y(s.MinMBps), x(i), y(s.MaxMBps), color)
		fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3.5" fill="%s"><title>%s</title></circle>`+"\n",
			x(i), y(s.MBps), color, esc(fmt.Sprintf("%s, %d connections: %.1f MB/s (%.1f-%.1f)", tool, c, s.MBps, s.MinMBps, s.MaxMBps)))
	}
	flush()
	return b.String()
}

func (r *Report) title() string {
	return "rget bench: MB/s by connection count"
}

func (r *Report) subtitle() string {
	parts := []string{r.Date.Format("2006-01-02 15:04 UTC")}
	if r.Target.Size > 0 {
		parts = append(parts, download.FormatSize(r.Target.Size))
	}
	if r.RatePerConn > 0 {
		parts = append(parts, fmt.Sprintf("cap %.1f MB/s per connection", float64(r.RatePerConn)/1e6))
	}
	parts = append(parts, fmt.Sprintf("median of %d, bars min-max", r.Runs))
	parts = append(parts, fmt.Sprintf("%s/%s, %d CPUs", r.Host.OS, r.Host.Arch, r.Host.CPUs))
	return strings.Join(parts, " · ")
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

// trimFloat formats a tick label without needless decimals.
func trimFloat(v float64) string {
	if v == math.Trunc(v) {
		return fmt.Sprintf("%.0f", v)
	}
	return strings.TrimRight(fmt.Sprintf("%.2f", v), "0")
}

// esc escapes s for SVG text and attribute values.
func esc(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s)) //nolint:errcheck // strings.Builder does not fail
	return b.String()
}
