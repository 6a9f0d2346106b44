package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestGoLoad_RunsUntilMinAnswers checks that a run whose duration ends before any answer
// (a server slower than the run, as a toy run on a loaded machine can see) goes on until
// minAnswers requests were answered, and that without minAnswers it measures what its
// duration saw.
func TestGoLoad_RunsUntilMinAnswers(t *testing.T) {
	// The server takes longer to answer than the run's duration: that is the condition
	// under test, not a wait for something to happen.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.Write([]byte("ok"))
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	got, err := goLoad{conns: 2}.run(ctx, srv.URL, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests != 0 {
		t.Errorf("without minAnswers: %d answers within 1 ms of a server answering in 20 ms, want 0", got.Requests)
	}

	got, err = goLoad{conns: 2, minAnswers: 5}.run(ctx, srv.URL, time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if got.Requests < 5 || got.Failed != 0 {
		t.Errorf("with minAnswers 5: %d answers, %d failed (%v), want at least 5 and none failed", got.Requests, got.Failed, got.First)
	}
	if got.RPS() <= 0 {
		t.Errorf("with minAnswers 5: %v req/s, want a positive rate", got.RPS())
	}
}
