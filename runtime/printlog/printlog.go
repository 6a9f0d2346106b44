// Package printlog bounds what print() in stored code can write to the log.
//
// The runtime logs every print() call as an slog record with the attribute source="print",
// the module and position of the call, and the thread's request_id. A Handler sits in
// front of the real log handler: between Begin and End of a request id, it passes at most
// MaxLines print records and MaxBytes of print text for that id, drops the rest, and End
// logs one record counting what was dropped. A request therefore cannot flood the log,
// and what it printed before the limit is kept. Records that are not print() output, and
// prints of ids not begun (module top levels, which have no request), pass unchanged.
package printlog

import (
	"context"
	"log/slog"
	"sync"
)

// Defaults of Options.
const (
	DefaultMaxLines = 100
	DefaultMaxBytes = 64 << 10
)

// Options bound each request's print output. Zero fields take the defaults.
type Options struct {
	MaxLines int // print records per request
	MaxBytes int // bytes of printed text per request
}

// Handler is an slog.Handler that bounds print() records per request (see the package
// comment). It is safe for concurrent use.
type Handler struct {
	next   slog.Handler
	shared *state
}

// state is shared by a Handler and the handlers derived from it by WithAttrs/WithGroup.
type state struct {
	maxLines, maxBytes int

	// mu guards requests.
	mu       sync.Mutex
	requests map[string]*usage // by request id, between Begin and End
}

// usage is what one request printed so far.
type usage struct {
	lines, bytes   int
	dropped        int // records dropped
	droppedBytes   int // bytes of the dropped records' text
	firstDroppedAt string
}

var _ slog.Handler = (*Handler)(nil)

// New returns a Handler that passes records to next.
func New(next slog.Handler, opts Options) *Handler {
	if opts.MaxLines <= 0 {
		opts.MaxLines = DefaultMaxLines
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	return &Handler{next: next, shared: &state{
		maxLines: opts.MaxLines, maxBytes: opts.MaxBytes, requests: map[string]*usage{},
	}}
}

// Begin starts bounding the print output of request id.
func (h *Handler) Begin(id string) {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	h.shared.requests[id] = &usage{}
}

// End stops bounding request id and, if some of its output was dropped, logs one warning
// with the counts. It returns the number of records dropped.
func (h *Handler) End(ctx context.Context, id string) int {
	h.shared.mu.Lock()
	u := h.shared.requests[id]
	delete(h.shared.requests, id)
	h.shared.mu.Unlock()
	if u == nil || u.dropped == 0 {
		return 0
	}
	slog.New(h.next).LogAttrs(ctx, slog.LevelWarn, "print output over the per-request limit was dropped",
		slog.String("source", "print"), slog.String("request_id", id),
		slog.Int("dropped_lines", u.dropped), slog.Int("dropped_bytes", u.droppedBytes),
		slog.Int("max_lines", h.shared.maxLines), slog.Int("max_bytes", h.shared.maxBytes),
		slog.String("first_dropped_at", u.firstDroppedAt))
	return u.dropped
}

// Enabled reports whether next handles level.
func (h *Handler) Enabled(ctx context.Context, level slog.Level) bool {
	return h.next.Enabled(ctx, level)
}

// Handle passes r to next unless it is print output of a begun request over its limits.
func (h *Handler) Handle(ctx context.Context, r slog.Record) error {
	var isPrint bool
	var id, pos string
	r.Attrs(func(a slog.Attr) bool {
		switch a.Key {
		case "source":
			isPrint = a.Value.String() == "print"
		case "request_id":
			id = a.Value.String()
		case "pos":
			pos = a.Value.String()
		}
		return true
	})
	if isPrint && id != "" && !h.admit(id, len(r.Message), pos) {
		return nil
	}
	return h.next.Handle(ctx, r)
}

// admit counts a print record of id and reports whether it is within the limits.
func (h *Handler) admit(id string, size int, pos string) bool {
	h.shared.mu.Lock()
	defer h.shared.mu.Unlock()
	u, ok := h.shared.requests[id]
	if !ok {
		return true
	}
	if u.dropped == 0 && u.lines < h.shared.maxLines && u.bytes+size <= h.shared.maxBytes {
		u.lines++
		u.bytes += size
		return true
	}
	if u.dropped == 0 {
		u.firstDroppedAt = pos
	}
	u.dropped++
	u.droppedBytes += size
	return false
}

// WithAttrs returns a handler with attrs that shares h's limits.
func (h *Handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &Handler{next: h.next.WithAttrs(attrs), shared: h.shared}
}

// WithGroup returns a handler with group name that shares h's limits.
func (h *Handler) WithGroup(name string) slog.Handler {
	return &Handler{next: h.next.WithGroup(name), shared: h.shared}
}
