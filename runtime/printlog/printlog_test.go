package printlog_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"go.starlark.net/syntax"

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

// at returns the position line:col of app.star.
func at(line, col int32) syntax.Position {
	return syntax.MakePosition(new("app.star"), line, col)
}

func TestBudget_AdmitsLinesUpToTheLimitThenNothing(t *testing.T) {
	b := printlog.NewBudget(printlog.Options{MaxLines: 3})
	var got []bool
	for i := range 5 {
		got = append(got, b.Admit(1, at(int32(i+1), 5)))
	}
	if want := []bool{true, true, true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Admit of 5 one-byte prints = %v, want %v", got, want)
	}
	if b.Dropped() != 2 {
		t.Errorf("Dropped = %d, want 2", b.Dropped())
	}
}

func TestBudget_AdmitsBytesUpToTheLimitAndNothingAfterTheFirstRefusal(t *testing.T) {
	b := printlog.NewBudget(printlog.Options{MaxBytes: 10})
	got := []bool{b.Admit(5, at(1, 1)), b.Admit(6, at(2, 1)), b.Admit(1, at(3, 1))}
	// The third print would fit, but is refused: a log that skips lines misleads.
	if want := []bool{true, false, false}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Admit of 5, 6 and 1 bytes = %v, want %v", got, want)
	}
}

func TestBudget_ZeroOptionsTakeTheDefaults(t *testing.T) {
	b := printlog.NewBudget(printlog.Options{})
	admitted := 0
	for b.Admit(1, at(1, 1)) {
		admitted++
	}
	if admitted != printlog.DefaultMaxLines {
		t.Errorf("admitted %d one-byte prints, want DefaultMaxLines = %d", admitted, printlog.DefaultMaxLines)
	}
	b.Reset(printlog.Options{})
	if !b.Admit(printlog.DefaultMaxBytes, at(1, 1)) || b.Admit(1, at(1, 1)) {
		t.Errorf("after Reset: want a print of DefaultMaxBytes admitted and the next refused")
	}
}

func TestBudget_ReportLogsOneWarningCountingTheDrops(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, nil))
	b := printlog.NewBudget(printlog.Options{MaxLines: 1})
	b.Admit(2, at(1, 1))
	b.Admit(3, at(7, 9))
	b.Admit(4, at(8, 9))
	if got := b.Report(context.Background(), log, "dropped", slog.String("request_id", "r1")); got != 2 {
		t.Errorf("Report = %d, want 2 dropped", got)
	}
	recs := logLines(t, &buf)
	if len(recs) != 1 {
		t.Fatalf("logged %d records, want 1: %v", len(recs), recs)
	}
	want := map[string]any{
		"msg": "dropped", "level": "WARN", "source": "print", "request_id": "r1", "dropped_lines": 2.0, "dropped_bytes": 7.0,
		"max_lines": 1.0, "max_bytes": float64(printlog.DefaultMaxBytes), "first_dropped_at": "app.star:7:9",
	}
	for k, v := range want {
		if recs[0][k] != v {
			t.Errorf("record[%q] = %v, want %v (record %v)", k, recs[0][k], v, recs[0])
		}
	}
}

func TestBudget_ReportLogsNothingWhenNothingWasDropped(t *testing.T) {
	var buf bytes.Buffer
	b := printlog.NewBudget(printlog.Options{MaxLines: 1})
	b.Admit(1, at(1, 1))
	if got := b.Report(context.Background(), slog.New(slog.NewJSONHandler(&buf, nil)), "dropped"); got != 0 || buf.Len() != 0 {
		t.Errorf("Report = %d and logged %q, want 0 and nothing", got, buf.String())
	}
}

func TestPositionString_FormatsLikeSyntaxPosition(t *testing.T) {
	for _, pos := range []syntax.Position{at(3, 5), at(3, 0), at(0, 0)} {
		if got, want := printlog.PositionString(pos), pos.String(); got != want {
			t.Errorf("PositionString = %q, want %q", got, want)
		}
	}
	if got := printlog.PositionString(syntax.Position{}); got != "" {
		t.Errorf("PositionString of the zero Position = %q, want \"\"", got)
	}
}
