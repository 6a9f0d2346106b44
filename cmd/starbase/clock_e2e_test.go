package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// clockApp bumps one counter from many clients at once, so that transactions conflict and
// run again; every run prints the request's id and the clock it sees.
var clockApp = map[string]string{
	"app.star": `
Counter = model("Counter", fields = {"value": 0})

def create(req):
    c = Counter()
    db.put(c)
    return {"id": c.id}

def bump(req):
    c = db.get(req.params["id"])
    print("run", req.id, time.now().unix_nano)
    for _ in range(2000):   # widen the window between the read and the write
        pass
    c.value += 1
    db.put(c)
    return {"id": req.id, "now": str(time.now().unix_nano)}

routes = {"POST /counters": create, "POST /counters/{id}/bump": bump}
`,
}

// TestE2E_TheClockIsTheSameAcrossAConflictsReRuns: a request whose transaction lost a
// conflict runs again with the clock it started with, and answers with that instant.
func TestE2E_TheClockIsTheSameAcrossAConflictsReRuns(t *testing.T) {
	n := startServe(t, t.TempDir())
	src := t.TempDir()
	writeTree(t, src, clockApp)
	n.cli(t, "push", src, "-m", "clock", "--wait")
	resp, body := n.do(t, "POST", "/counters", nil, nil)
	var created struct{ ID string }
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &created) != nil {
		t.Fatalf("POST /counters = %d %s", resp.StatusCode, body)
	}

	answered := map[string]string{} // request id -> the instant it answered
	var mu sync.Mutex
	reRan := func() (ids []string) {
		runs := map[string]int{}
		for line := range strings.SplitSeq(n.logText(), "\n") {
			var rec struct{ Msg string }
			if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "run ") {
				runs[strings.Fields(rec.Msg)[1]]++
			}
		}
		for id, k := range runs {
			if k > 1 {
				ids = append(ids, id)
			}
		}
		return ids
	}
	// Rounds of concurrent bumps until some request ran more than once (bounded).
	for round := 0; round < 20 && len(reRan()) == 0; round++ {
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 5 {
					resp, err := http.Post(n.url+"/counters/"+created.ID+"/bump", "text/plain", nil)
					if err != nil {
						t.Error(err)
						return
					}
					var got struct{ ID, Now string }
					err = json.NewDecoder(resp.Body).Decode(&got)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK && err == nil {
						mu.Lock()
						answered[got.ID] = got.Now
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
	}
	ids := reRan()
	if len(ids) == 0 {
		t.Fatalf("no request ran more than once in 20 rounds of 40 concurrent bumps: no conflict to observe")
	}
	clocks := map[string][]string{}
	for line := range strings.SplitSeq(n.logText(), "\n") {
		var rec struct{ Msg string }
		if json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, "run ") {
			f := strings.Fields(rec.Msg)
			clocks[f[1]] = append(clocks[f[1]], f[2])
		}
	}
	checked := 0
	for _, id := range ids {
		now, ok := answered[id]
		if !ok {
			continue // it gave up after its re-runs (409): nothing answered to compare with
		}
		checked++
		for i, c := range clocks[id] {
			if c != now {
				t.Errorf("request %s: run %d saw the clock %s, but it answered %s (runs: %v)", id, i+1, c, now, clocks[id])
			}
		}
	}
	if checked == 0 {
		t.Fatalf("none of the %d requests that ran again was answered 200: %v", len(ids), ids)
	}
	t.Logf("%d requests ran more than once, %d of them answered 200", len(ids), checked)
}
