package api

import (
	"fmt"
	"time"
)

// Rollout states.
const (
	RolloutRunning = "running" // the rollout's commit takes its share of requests
	RolloutAborted = "aborted" // ended by hand or by the automatic rollback; Reason says why
)

// Rollout is a gradual rollout of a commit on a ref, as stored beside the ref (one per ref)
// and followed by every node. While it runs, Percent(now) percent of the app requests run
// on Commit and the rest on the commit the ref names; the steps advance with the stored
// start time, so every node computes the same step whatever its own clock's history.
type Rollout struct {
	Ref    string `json:"ref"`
	Commit string `json:"commit"`
	// Base is the commit the ref named when the rollout started.
	Base string `json:"base"`
	// Steps are the percentages served, in order; Every is the time each step lasts
	// (0 when there is one step).
	Steps      []int             `json:"steps"`
	Every      time.Duration     `json:"every,omitempty"`
	Started    time.Time         `json:"started"`
	State      string            `json:"state"`
	Reason     string            `json:"reason,omitempty"`
	Ended      time.Time         `json:"ended,omitzero"`
	By         string            `json:"by,omitempty"`
	Thresholds RolloutThresholds `json:"thresholds"`
}

// Percent returns the share of requests, in percent, that the rollout's commit gets at now:
// 0 unless it runs, else the step that now falls in (the first before the start, the last
// after the end of the schedule).
func (r *Rollout) Percent(now time.Time) int {
	if r == nil || r.State != RolloutRunning || len(r.Steps) == 0 {
		return 0
	}
	i := 0
	if r.Every > 0 && now.After(r.Started) {
		i = int(min(now.Sub(r.Started)/r.Every, time.Duration(len(r.Steps)-1)))
	}
	return r.Steps[i]
}

// RolloutThresholds are when a node rolls a running rollout back by itself: over the last
// Window, once the new commit has answered at least MinRequests requests on the node, its
// error rate (5xx answers) is more than MaxErrorRise percentage points above the current
// release's, or its p99 latency is more than MaxP99Ratio times the current release's (and
// at least P99Floor slower; both need MinRequests each). Zero fields take the defaults.
type RolloutThresholds struct {
	Window       time.Duration `json:"window"`
	MinRequests  int           `json:"min_requests"`
	MaxErrorRise float64       `json:"max_error_rise"`
	// MaxP99Ratio 0 takes the default; a negative one disables the latency check.
	MaxP99Ratio float64 `json:"max_p99_ratio"`
}

// Defaults of RolloutThresholds.
const (
	DefaultRolloutWindow       = time.Minute
	DefaultRolloutMinRequests  = 50
	DefaultRolloutMaxErrorRise = 5.0
	DefaultRolloutMaxP99Ratio  = 2.0
	// RolloutP99Floor is how much slower than the current release's p99 the new commit's
	// must also be to count as a regression: a few milliseconds either way are noise.
	RolloutP99Floor = 50 * time.Millisecond
)

// WithDefaults returns t with its zero fields set to the defaults.
func (t RolloutThresholds) WithDefaults() RolloutThresholds {
	if t.Window <= 0 {
		t.Window = DefaultRolloutWindow
	}
	if t.MinRequests <= 0 {
		t.MinRequests = DefaultRolloutMinRequests
	}
	if t.MaxErrorRise <= 0 {
		t.MaxErrorRise = DefaultRolloutMaxErrorRise
	}
	if t.MaxP99Ratio == 0 {
		t.MaxP99Ratio = DefaultRolloutMaxP99Ratio
	}
	return t
}

// RolloutRequest starts a rollout (POST /-/api/rollout): Commit (an id or a unique prefix)
// to Steps percent of requests, one step every Every. Ref defaults to main.
type RolloutRequest struct {
	Ref        string            `json:"ref,omitempty"`
	Commit     string            `json:"commit"`
	Steps      []int             `json:"steps"`
	Every      time.Duration     `json:"every,omitempty"`
	Thresholds RolloutThresholds `json:"thresholds"`
}

// MaxRolloutSteps bounds the steps of a rollout.
const MaxRolloutSteps = 100

// Check returns an error saying what is wrong with r's schedule, or nil.
func (r RolloutRequest) Check() error {
	if len(r.Steps) == 0 || len(r.Steps) > MaxRolloutSteps {
		return fmt.Errorf("a rollout needs 1 to %d steps (percentages such as 1,10,50,100), it has %d", MaxRolloutSteps, len(r.Steps))
	}
	for i, p := range r.Steps {
		if p < 1 || p > 100 {
			return fmt.Errorf("step %d is %d%%: each step is a percentage from 1 to 100", i+1, p)
		}
		if i > 0 && p < r.Steps[i-1] {
			return fmt.Errorf("step %d (%d%%) is below the step before it (%d%%): steps only grow", i+1, p, r.Steps[i-1])
		}
	}
	switch {
	case len(r.Steps) > 1 && r.Every < time.Second:
		return fmt.Errorf("a rollout of %d steps needs a time between steps of at least 1s (--every 5m)", len(r.Steps))
	case len(r.Steps) == 1 && r.Every != 0:
		return fmt.Errorf("a rollout of one step has no time between steps: give several steps (--steps 1,10,100) or no --every")
	case r.Thresholds.Window < 0 || r.Thresholds.MinRequests < 0 || r.Thresholds.MaxErrorRise < 0:
		return fmt.Errorf("the rollback thresholds are not negative (a negative max p99 ratio alone disables the latency check)")
	}
	return nil
}

// RolloutAction asks to promote or abort the rollout of Ref (default main).
type RolloutAction struct {
	Ref    string `json:"ref,omitempty"`
	Reason string `json:"reason,omitempty"`
}

// RolloutStatus answers GET /-/api/rollout: the stored rollout (nil when there is none),
// its percentage now, and how each node sees it.
type RolloutStatus struct {
	Rollout *Rollout      `json:"rollout"`
	Percent int           `json:"percent"`
	Nodes   []NodeRollout `json:"nodes,omitempty"`
}

// NodeRollout is what a node does of the rollout: the commit it serves beside its current
// release, the share it gives it now, and why it does not serve it (Error) if it could not
// build it.
type NodeRollout struct {
	Node    string `json:"node,omitempty"`
	Commit  string `json:"commit"`
	State   string `json:"state"`
	Percent int    `json:"percent"`
	Reason  string `json:"reason,omitempty"`
	Error   string `json:"error,omitempty"`
}
