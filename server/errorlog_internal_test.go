package server

import (
	"fmt"
	"strings"
	"testing"

	"github.com/starbase/starbase/runtime/traceback"
)

func TestErrorLog_KeepsTheLastMaxRecentErrorsWithinBounds(t *testing.T) {
	l := newErrorLog()
	deep := &traceback.Traceback{Message: strings.Repeat("x", 2*maxErrorText)}
	for i := range 100 {
		deep.Frames = append(deep.Frames, traceback.Frame{Path: "app.star", Line: i + 1})
	}
	total := maxRecentErrors + 10
	for i := range total {
		l.add(appErrorOf(deep, fmt.Sprint(i), "r", "node", "c", "GET", "/", 500))
	}
	recent := l.recent(maxRecentErrors + 100)
	if len(recent) != maxRecentErrors || recent[0].ID != fmt.Sprint(total-1) || recent[len(recent)-1].ID != fmt.Sprint(total-maxRecentErrors) {
		t.Fatalf("recent: %d errors from %s to %s, want the last %d newest first", len(recent), recent[0].ID, recent[len(recent)-1].ID, maxRecentErrors)
	}
	if _, ok := l.find("0"); ok {
		t.Error("the oldest error is still found")
	}
	e, ok := l.find(fmt.Sprint(total - 1))
	if !ok {
		t.Fatal("the newest error is not found")
	}
	if len(e.Frames) != maxErrorFrames || e.Frames[0].Line != 1 || e.Frames[len(e.Frames)-1].Line != 100 || len(e.Message) > maxErrorText {
		t.Fatalf("kept %d frames (first line %d, last %d) and a %d-byte message; want %d frames, outermost and innermost kept, message clipped",
			len(e.Frames), e.Frames[0].Line, e.Frames[len(e.Frames)-1].Line, len(e.Message), maxErrorFrames)
	}
}
