package server

import (
	"sync"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/runtime/traceback"
)

// Bounds of the recent errors a node keeps for the editor's errors view.
const (
	// maxRecentErrors is how many app errors a node remembers; older ones are forgotten.
	maxRecentErrors = 256
	// maxErrorFrames bounds the frames kept per error: the outermost and innermost halves
	// of a deeper traceback (the innermost frame is where the error is).
	maxErrorFrames = 32
	// maxErrorText bounds the message and each source line kept, in bytes.
	maxErrorText = 4 << 10
)

// errorLog remembers the most recent app errors of this node, so that a developer given an
// error id by a production client (who sees nothing else) can find the failing line. It is
// a ring of maxRecentErrors entries, safe for concurrent use. Errors are kept by the node
// that answered, in memory: they do not survive a restart, and a lookup must reach that
// node (the id is also in its log, with the whole traceback).
type errorLog struct {
	mu   sync.Mutex
	ring []api.AppError // oldest first once full, from next
	next int
}

func newErrorLog() *errorLog { return &errorLog{ring: make([]api.AppError, 0, maxRecentErrors)} }

// add records e, dropping the oldest error when the ring is full.
func (l *errorLog) add(e api.AppError) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ring) < maxRecentErrors {
		l.ring = append(l.ring, e)
		return
	}
	l.ring[l.next] = e
	l.next = (l.next + 1) % maxRecentErrors
}

// recent returns up to n errors, newest first.
func (l *errorLog) recent(n int) []api.AppError {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]api.AppError, 0, min(n, len(l.ring)))
	for i := 0; i < len(l.ring) && len(out) < n; i++ {
		j := (l.next - 1 - i + 2*len(l.ring)) % len(l.ring)
		out = append(out, l.ring[j])
	}
	return out
}

// find returns the error of id.
func (l *errorLog) find(id string) (api.AppError, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ring {
		if e.ID == id {
			return e, true
		}
	}
	return api.AppError{}, false
}

// appErrorOf makes the record of one failed request, within the bounds above.
func appErrorOf(tb *traceback.Traceback, id, reqID, node, commit, method, path string, status int) api.AppError {
	e := api.AppError{ID: id, RequestID: reqID, Node: node, Time: time.Now().UTC(), Commit: commit,
		Method: method, Path: clip(path, maxErrorText), Status: status, Message: clip(tb.Message, maxErrorText), Frames: []api.ErrorFrame{}}
	frames := tb.Frames
	if len(frames) > maxErrorFrames {
		frames = append(frames[:maxErrorFrames/2:maxErrorFrames/2], frames[len(frames)-maxErrorFrames/2:]...)
	}
	for _, f := range frames {
		e.Frames = append(e.Frames, api.ErrorFrame{Path: f.Path, Commit: f.Commit, Line: f.Line, Col: f.Col,
			Function: f.Function, Source: clip(f.Source, maxErrorText)})
	}
	return e
}
