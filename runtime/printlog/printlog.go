// Package printlog bounds what print() in stored code can write to the log.
//
// The runtime logs every print() call as an slog record with the attribute source="print",
// the module and position of the call, the commit and the thread's request_id. Each
// execution of stored code charges its prints to a Budget: a request (every run of its
// handler, when a data conflict re-runs it, charges one budget) or one run of a module's
// top level. A Budget admits at most MaxLines records and MaxBytes of printed text and
// refuses everything after the first refusal, so what an execution printed before reaching
// its budget is kept, in order, and the rest is dropped; Report then logs one warning
// counting what was dropped. An execution therefore cannot flood the log.
//
// A Budget travels with its execution (the runtime keeps it in a thread local), so
// counting a print takes no lock shared with other requests.
package printlog

import (
	"context"
	"log/slog"
	"strconv"

	"go.starlark.net/syntax"
)

// Defaults of Options.
const (
	DefaultMaxLines = 100
	DefaultMaxBytes = 64 << 10
)

// Options bound one execution's print output. Zero or negative fields take the defaults.
type Options struct {
	MaxLines int // print records
	MaxBytes int // bytes of printed text
}

// Budget counts the print output of one execution against its Options. The zero value
// is not usable; call NewBudget or Reset. A Budget is used by one goroutine at a time
// (the goroutine running the execution, then the one reporting it): it is not safe for
// concurrent use.
type Budget struct {
	maxLines, maxBytes int

	lines, bytes   int             // admitted
	dropped        int             // records refused
	droppedBytes   int             // bytes of the refused records' text
	firstDroppedAt syntax.Position // where the first refused print was called
}

// NewBudget returns an unused budget of opts.
func NewBudget(opts Options) *Budget {
	b := new(Budget)
	b.Reset(opts)
	return b
}

// Reset makes b an unused budget of opts, for a Budget embedded in another value.
func (b *Budget) Reset(opts Options) {
	if opts.MaxLines <= 0 {
		opts.MaxLines = DefaultMaxLines
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	*b = Budget{maxLines: opts.MaxLines, maxBytes: opts.MaxBytes}
}

// Admit counts one print of size bytes, called at pos, and reports whether it may be
// logged: it may while neither limit would be passed and nothing was refused before.
func (b *Budget) Admit(size int, pos syntax.Position) bool {
	if b.dropped == 0 && b.lines < b.maxLines && b.bytes+size <= b.maxBytes {
		b.lines++
		b.bytes += size
		return true
	}
	if b.dropped == 0 {
		b.firstDroppedAt = pos
	}
	b.dropped++
	b.droppedBytes += size
	return false
}

// Dropped returns the number of prints refused so far.
func (b *Budget) Dropped() int { return b.dropped }

// Report logs, if some prints were refused, one warning msg to logger counting them,
// with attrs to say whose they were (a request id, or a module and commit). It returns
// the number of prints refused.
func (b *Budget) Report(ctx context.Context, logger *slog.Logger, msg string, attrs ...slog.Attr) int {
	if b.dropped == 0 {
		return 0
	}
	all := append([]slog.Attr{slog.String("source", "print")}, attrs...)
	all = append(all,
		slog.Int("dropped_lines", b.dropped), slog.Int("dropped_bytes", b.droppedBytes),
		slog.Int("max_lines", b.maxLines), slog.Int("max_bytes", b.maxBytes),
		slog.String("first_dropped_at", PositionString(b.firstDroppedAt)))
	logger.LogAttrs(ctx, slog.LevelWarn, msg, all...)
	return b.dropped
}

// PositionString formats pos as syntax.Position.String does ("file:line:col"), without
// fmt; it is "" for the zero Position.
func PositionString(pos syntax.Position) string {
	if !pos.IsValid() {
		return ""
	}
	s := pos.Filename()
	if pos.Line > 0 {
		s += ":" + strconv.Itoa(int(pos.Line))
		if pos.Col > 0 {
			s += ":" + strconv.Itoa(int(pos.Col))
		}
	}
	return s
}
