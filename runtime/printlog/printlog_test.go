package printlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/starbase/starbase/runtime/printlog"
)

// logLines decodes the JSON records written to buf.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		out = append(out, rec)
	}
	return out
}

func printAs(log *slog.Logger, id, msg string) {
	log.LogAttrs(context.Background(), slog.LevelInfo, msg,
		slog.String("source", "print"), slog.String("pos", "app.star:3:5"), slog.Any("request_id", id))
}

func TestHandler_BoundsLinesPerRequestAndCountsTheRest(t *testing.T) {
	var buf bytes.Buffer
	h := printlog.New(slog.NewJSONHandler(&buf, nil), printlog.Options{MaxLines: 3})
	log := slog.New(h).With("node", "n1") // derived handlers share the limits
	h.Begin("r1")
	for i := range 5 {
		printAs(log, "r1", fmt.Sprint("p", i))
	}
	log.Info("not a print", "request_id", "r1")
	if dropped := h.End(context.Background(), "r1"); dropped != 2 {
		t.Errorf("End = %d, want 2 dropped", dropped)
	}
	var msgs []string
	for _, rec := range logLines(t, &buf) {
		msgs = append(msgs, rec["msg"].(string))
	}
	want := "p0 p1 p2 not a print print output over the per-request limit was dropped"
	if got := strings.Join(msgs, " "); got != want {
		t.Errorf("logged %q, want %q", got, want)
	}
	last := logLines(t, &buf)[4]
	if last["dropped_lines"] != float64(2) || last["request_id"] != "r1" || last["first_dropped_at"] != "app.star:3:5" || last["level"] != "WARN" {
		t.Errorf("drop record = %v", last)
	}
}

func TestHandler_BoundsBytesPerRequest(t *testing.T) {
	var buf bytes.Buffer
	h := printlog.New(slog.NewJSONHandler(&buf, nil), printlog.Options{MaxBytes: 10})
	h.Begin("r1")
	printAs(slog.New(h), "r1", "12345")
	printAs(slog.New(h), "r1", "123456")
	printAs(slog.New(h), "r1", "1")
	h.End(context.Background(), "r1")
	recs := logLines(t, &buf)
	if len(recs) != 2 || recs[0]["msg"] != "12345" || recs[1]["dropped_lines"] != float64(2) || recs[1]["dropped_bytes"] != float64(7) {
		t.Errorf("records = %v, want the first print, then a count of 2 lines and 7 bytes dropped", recs)
	}
}

func TestHandler_PassesPrintsOfRequestsNotBegun(t *testing.T) {
	var buf bytes.Buffer
	h := printlog.New(slog.NewJSONHandler(&buf, nil), printlog.Options{MaxLines: 1})
	for range 3 {
		printAs(slog.New(h), "", "top level")
		printAs(slog.New(h), "other", "unbounded")
	}
	if dropped := h.End(context.Background(), "other"); dropped != 0 {
		t.Errorf("End of a request never begun = %d, want 0", dropped)
	}
	if n := len(logLines(t, &buf)); n != 6 {
		t.Errorf("logged %d records, want all 6", n)
	}
}

func TestHandler_ConcurrentRequestsAreCountedApart(t *testing.T) {
	var buf safeBuffer
	h := printlog.New(slog.NewJSONHandler(&buf, nil), printlog.Options{MaxLines: 10})
	var wg sync.WaitGroup
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			id := fmt.Sprint("r", r)
			h.Begin(id)
			for range 20 {
				printAs(slog.New(h), id, "x")
			}
			if dropped := h.End(context.Background(), id); dropped != 10 {
				t.Errorf("request %s dropped %d, want 10", id, dropped)
			}
		}()
	}
	wg.Wait()
}

// safeBuffer is a bytes.Buffer safe for concurrent writes.
type safeBuffer struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

func (b *safeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}
