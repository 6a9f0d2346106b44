package servertest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"slices"
	"sync"
	"testing"
)

// Log collects a node's JSON log (one record a line) for the test to read. It is safe for
// concurrent use.
type Log struct {
	mu  sync.Mutex // guards buf
	buf bytes.Buffer
}

// Write appends p to the log.
func (l *Log) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Records returns the records logged so far, oldest first, each decoded as a JSON object.
func (l *Log) Records(t testing.TB) []map[string]any {
	t.Helper()
	l.mu.Lock()
	data := slices.Clone(l.buf.Bytes())
	l.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var rec map[string]any
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatalf("log line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, rec)
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("reading the log: %v", err)
	}
	return out
}

// Messages returns the records whose msg is msg, oldest first.
func (l *Log) Messages(t testing.TB, msg string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, rec := range l.Records(t) {
		if rec["msg"] == msg {
			out = append(out, rec)
		}
	}
	return out
}
