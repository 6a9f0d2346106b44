package main

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// sample is the values of one figure over several runs.
type sample []float64

func (s sample) sorted() []float64 {
	c := slices.Clone(s)
	slices.Sort(c)
	return c
}

// median returns the median (the mean of the middle two for an even count), NaN for none.
func (s sample) median() float64 {
	c := s.sorted()
	switch n := len(c); {
	case n == 0:
		return math.NaN()
	case n%2 == 1:
		return c[n/2]
	default:
		return (c[n/2-1] + c[n/2]) / 2
	}
}

func (s sample) min() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Min(s)
}

func (s sample) max() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	return slices.Max(s)
}

// quantile returns the q-quantile by nearest rank, NaN for none.
func (s sample) quantile(q float64) float64 {
	c := s.sorted()
	if len(c) == 0 {
		return math.NaN()
	}
	i := int(math.Ceil(q*float64(len(c)))) - 1
	return c[min(max(i, 0), len(c)-1)]
}

// format renders the median and, for several values, the range: "12,340 (11,900–12,800)".
// f formats one value.
func (s sample) format(f func(float64) string) string {
	if len(s) == 0 {
		return "—"
	}
	if len(s) == 1 {
		return f(s[0])
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.median()), f(s.min()), f(s.max()))
}

// count formats a number with thousands separators, no decimals.
func count(v float64) string {
	if math.IsNaN(v) {
		return "—"
	}
	neg := v < 0
	s := fmt.Sprintf("%d", int64(math.Round(math.Abs(v))))
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// ratio formats a ratio with two decimals and a ×.
func ratio(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", v)
}

// ratio3 formats a ratio with three decimals, for goals whose margin is a few percent.
func ratio3(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	return fmt.Sprintf("%.3f×", v)
}

// ms formats seconds as milliseconds, with precision fitting the magnitude.
func ms(seconds float64) string {
	if math.IsNaN(seconds) {
		return "—"
	}
	v := seconds * 1000
	switch {
	case v >= 100:
		return fmt.Sprintf("%.0f ms", v)
	case v >= 10:
		return fmt.Sprintf("%.1f ms", v)
	case v >= 1:
		return fmt.Sprintf("%.2f ms", v)
	default:
		return fmt.Sprintf("%.0f µs", v*1000)
	}
}

// logMS formats seconds read from a log that records whole milliseconds.
func logMS(seconds float64) string {
	if seconds < 0.001 {
		return "< 1 ms"
	}
	return fmt.Sprintf("%.0f ms", seconds*1000)
}

// mib formats bytes as MiB.
func mib(bytes float64) string {
	if math.IsNaN(bytes) {
		return "—"
	}
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

// pct formats a fraction as a signed percentage.
func pct(frac float64) string {
	if math.IsNaN(frac) {
		return "—"
	}
	return fmt.Sprintf("%+.1f%%", frac*100)
}

// secs returns d in seconds.
func secs(d time.Duration) float64 { return d.Seconds() }

// durations returns the seconds of ds as a sample.
func durations(ds []time.Duration) sample {
	s := make(sample, len(ds))
	for i, d := range ds {
		s[i] = d.Seconds()
	}
	return s
}
