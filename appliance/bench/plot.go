package bench

import (
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The scaling plot: four panels, streams on x; CPU (cores) and p99
// deviation (ms) on y, passthrough on the left and encoded on the right;
// DAVE off and on as two series. Drawn with image/png and the 5×7 font.

var (
	colBG     = color.RGBA{255, 255, 255, 255}
	colAxis   = color.RGBA{40, 40, 40, 255}
	colGrid   = color.RGBA{225, 225, 225, 255}
	colTarget = color.RGBA{200, 40, 40, 255}
	colSeries = []color.RGBA{{31, 119, 180, 255}, {255, 127, 14, 255}}
)

type point struct{ x, y float64 }

type series struct {
	name string
	pts  []point
	col  color.RGBA
}

type panel struct {
	title      string
	xlabel     string
	ylabel     string
	series     []series
	target     float64 // a horizontal target line; 0: none
	targetName string
	// xmin/ymax fixed lower bounds of the axes' ranges (0 = from data).
	ymaxMin float64
}

// writePlot draws results into a PNG at path.
func writePlot(path string, results []Result) error {
	if len(results) == 0 {
		return errNoRows
	}
	pick := func(mode string, withDAVE bool, y func(Result) float64) []point {
		var pts []point
		for _, r := range results {
			if r.Mode == mode && r.DAVE == withDAVE && r.Filter == "" {
				pts = append(pts, point{float64(r.Streams), y(r)})
			}
		}
		slices.SortFunc(pts, func(a, b point) int { return int(a.x - b.x) })
		return pts
	}
	cores := func(r Result) float64 { return r.Cores }
	p99 := func(r Result) float64 { return float64(r.P99) / float64(time.Millisecond) }
	two := func(mode string, y func(Result) float64) []series {
		return []series{
			{name: "DAVE OFF", pts: pick(mode, false, y), col: colSeries[0]},
			{name: "DAVE ON", pts: pick(mode, true, y), col: colSeries[1]},
		}
	}
	complexity := 10
	for _, r := range results {
		if r.Mode == ModeEncode {
			complexity = r.Complexity
		}
	}
	enc := "ENCODED (OPUS COMPLEXITY " + strconv.Itoa(complexity) + ")"
	panels := []panel{
		{title: "PASSTHROUGH: CPU", xlabel: "STREAMS", ylabel: "CORES", series: two(ModePassthrough, cores), ymaxMin: 0.5},
		{title: enc + ": CPU", xlabel: "STREAMS", ylabel: "CORES", series: two(ModeEncode, cores), ymaxMin: 0.5},
		{title: "PASSTHROUGH: P99 SEND DEVIATION", xlabel: "STREAMS", ylabel: "MS", series: two(ModePassthrough, p99), target: 2, targetName: "TARGET", ymaxMin: 3},
		{title: enc + ": P99 SEND DEVIATION", xlabel: "STREAMS", ylabel: "MS", series: two(ModeEncode, p99), target: 5, targetName: "SPEC", ymaxMin: 6},
	}
	const w, h = 1400, 960
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	fill(img, img.Bounds(), colBG)
	text(img, 20, 14, "DISCODO BENCH: STREAMS AGAINST CPU AND P99 DEVIATION FROM THE 20 MS GRID", 3, colAxis)
	text(img, 20, 46, strings.ToUpper(strings.Join(strings.Fields(cpuModel()), " ")+", "+strconv.Itoa(numCPU())+" CORES"), 2, colAxis)
	for i, p := range panels {
		x0 := 10 + (i%2)*(w/2)
		y0 := 80 + (i/2)*((h-80)/2)
		drawPanel(img, image.Rect(x0, y0, x0+w/2-20, y0+(h-80)/2-10), p)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(f, img); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "UNKNOWN CPU"
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "UNKNOWN CPU"
}

func drawPanel(img *image.RGBA, r image.Rectangle, p panel) {
	const left, bottom, top, right = 80, 60, 40, 20
	text(img, r.Min.X+left, r.Min.Y+8, p.title, 2, colAxis)
	plot := image.Rect(r.Min.X+left, r.Min.Y+top, r.Max.X-right, r.Max.Y-bottom)
	var xmax, ymax float64
	for _, s := range p.series {
		for _, pt := range s.pts {
			xmax, ymax = max(xmax, pt.x), max(ymax, pt.y)
		}
	}
	xmax = niceCeil(max(xmax, 1))
	ymax = niceCeil(max(ymax*1.1, p.ymaxMin, p.target*1.2))
	px := func(x float64) int { return plot.Min.X + int(math.Round(x/xmax*float64(plot.Dx()))) }
	py := func(y float64) int { return plot.Max.Y - int(math.Round(y/ymax*float64(plot.Dy()))) }
	const ticks = 5
	for i := 0; i <= ticks; i++ {
		xv, yv := xmax*float64(i)/ticks, ymax*float64(i)/ticks
		X, Y := px(xv), py(yv)
		line(img, X, plot.Min.Y, X, plot.Max.Y, colGrid, false)
		line(img, plot.Min.X, Y, plot.Max.X, Y, colGrid, false)
		lx := label(xv, xmax/ticks)
		text(img, X-textWidth(lx, 2)/2, plot.Max.Y+8, lx, 2, colAxis)
		ly := label(yv, ymax/ticks)
		text(img, plot.Min.X-8-textWidth(ly, 2), Y-7, ly, 2, colAxis)
	}
	line(img, plot.Min.X, plot.Max.Y, plot.Max.X, plot.Max.Y, colAxis, false)
	line(img, plot.Min.X, plot.Min.Y, plot.Min.X, plot.Max.Y, colAxis, false)
	text(img, plot.Min.X+plot.Dx()/2-textWidth(p.xlabel, 2)/2, plot.Max.Y+30, p.xlabel, 2, colAxis)
	text(img, r.Min.X+4, plot.Min.Y-22, p.ylabel, 2, colAxis)
	if p.target > 0 {
		Y := py(p.target)
		line(img, plot.Min.X, Y, plot.Max.X, Y, colTarget, true)
		t := p.targetName + " " + label(p.target, 1) + " MS"
		text(img, plot.Max.X-textWidth(t, 2)-4, Y-18, t, 2, colTarget)
	}
	ly := plot.Min.Y + 6
	for _, s := range p.series {
		if len(s.pts) == 0 {
			continue
		}
		for i := 1; i < len(s.pts); i++ {
			a, b := s.pts[i-1], s.pts[i]
			thick(img, px(a.x), py(a.y), px(b.x), py(b.y), s.col)
		}
		for _, pt := range s.pts {
			fill(img, image.Rect(px(pt.x)-4, py(pt.y)-4, px(pt.x)+5, py(pt.y)+5), s.col)
		}
		fill(img, image.Rect(plot.Min.X+10, ly+2, plot.Min.X+30, ly+12), s.col)
		text(img, plot.Min.X+38, ly, s.name, 2, colAxis)
		ly += 22
	}
}

// niceCeil rounds v up to 1, 2, 2.5 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if v <= m*p*1.0000001 {
			return m * p
		}
	}
	return 10 * p
}

func label(v, step float64) string {
	prec := 0
	for s := step; s < 1 && prec < 3 && math.Abs(s-math.Round(s)) > 1e-9; s *= 10 {
		prec++
	}
	if math.Abs(step*math.Pow(10, float64(prec))-math.Round(step*math.Pow(10, float64(prec)))) > 1e-9 {
		prec++
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

func fill(img *image.RGBA, r image.Rectangle, c color.RGBA) {
	r = r.Intersect(img.Bounds())
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			img.SetRGBA(x, y, c)
		}
	}
}

// line draws a one-pixel line (Bresenham), dashed when asked.
func line(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA, dashed bool) {
	dx, dy := abs(x1-x0), -abs(y1-y0)
	sx, sy := sign(x1-x0), sign(y1-y0)
	e := dx + dy
	for n := 0; ; n++ {
		if !dashed || n%12 < 7 {
			if (image.Point{x0, y0}).In(img.Bounds()) {
				img.SetRGBA(x0, y0, c)
			}
		}
		if x0 == x1 && y0 == y1 {
			return
		}
		if e2 := 2 * e; e2 >= dy {
			e += dy
			x0 += sx
		} else {
			e += dx
			y0 += sy
		}
	}
}

// thick draws a three-pixel line.
func thick(img *image.RGBA, x0, y0, x1, y1 int, c color.RGBA) {
	for d := -1; d <= 1; d++ {
		line(img, x0+d, y0, x1+d, y1, c, false)
		line(img, x0, y0+d, x1, y1+d, c, false)
	}
}

func text(img *image.RGBA, x, y int, s string, scale int, c color.RGBA) {
	for _, r := range strings.ToUpper(s) {
		g := glyph(r)
		for row, bits := range g {
			for col, b := range bits {
				if b == '#' {
					fill(img, image.Rect(x+col*scale, y+row*scale, x+(col+1)*scale, y+(row+1)*scale), c)
				}
			}
		}
		x += 6 * scale
	}
}

func textWidth(s string, scale int) int { return len([]rune(s))*6*scale - scale }

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func sign(v int) int {
	switch {
	case v < 0:
		return -1
	case v > 0:
		return 1
	}
	return 0
}
