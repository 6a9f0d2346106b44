package api

import "time"

// The messages of the endpoints the web editor (/-/ui/) added: checking a pending change
// and the recent errors of a node.

// CheckRequest asks the validation gate to judge Files (a whole tree, as a push sends it)
// without committing anything.
type CheckRequest struct {
	Files   map[string][]byte `json:"files"` // path -> content (base64 in JSON)
	NoTests bool              `json:"no_tests,omitempty"`
}

// CheckResult is the gate's verdict on a CheckRequest: OK when Problems is empty.
type CheckResult struct {
	OK       bool         `json:"ok"`
	Problems []Problem    `json:"problems"`
	Tests    []TestResult `json:"tests"`
}

// TestResult is the outcome of one test function of a checked tree.
type TestResult struct {
	Module string `json:"module"`
	Name   string `json:"name"`
	Line   int    `json:"line"`
	Passed bool   `json:"passed"`
	// Message is why the test failed ("" when it passed).
	Message string `json:"message,omitempty"`
}

// AppError is one failed app request as the node that answered it recorded it: what the
// production client saw is only ID.
type AppError struct {
	ID        string       `json:"id"`
	RequestID string       `json:"request_id"`
	Node      string       `json:"node"`
	Time      time.Time    `json:"time"`
	Commit    string       `json:"commit"`
	Method    string       `json:"method"`
	Path      string       `json:"path"`
	Status    int          `json:"status"`
	Message   string       `json:"message"`
	Frames    []ErrorFrame `json:"frames"`
}

// ErrorFrame is one frame of an AppError's traceback, outermost first.
type ErrorFrame struct {
	Path     string `json:"path"`
	Commit   string `json:"commit"`
	Line     int    `json:"line"`
	Col      int    `json:"col"`
	Function string `json:"function"`
	Source   string `json:"source"`
}
