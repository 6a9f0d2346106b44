// Package api defines the JSON messages of Starbase's HTTP API under /-/api/, shared by the
// server and its clients (the CLI, the editor, tests).
package api

import (
	"fmt"
	"time"
)

// MarkerHeader is on every answer of the platform (/-/api/, /-/status, /-/health,
// /-/metrics), with the value MarkerValue, and on no answer of the application: stored code
// cannot set it. A client takes an answer without it for what it is, an answer of
// something other than the API (a proxy, an application, a wrong server URL), never a
// success.
const (
	MarkerHeader = "Starbase-API"
	MarkerValue  = "1"
)

// PushRequest asks to make a ref's tree equal to Files.
type PushRequest struct {
	Ref string `json:"ref,omitempty"` // default "main"
	// Expected is the commit the pushed files were based on ("" = none: the ref must not
	// exist yet, unless Force).
	Expected string            `json:"expected"`
	Force    bool              `json:"force,omitempty"`
	Message  string            `json:"message,omitempty"`
	NoTests  bool              `json:"no_tests,omitempty"`
	Files    map[string][]byte `json:"files"` // path -> content (base64 in JSON)
	// Orphans are classes with stored objects that the pushed code no longer declares,
	// which the push accepts to leave as plain records (else the gate refuses it).
	Orphans []string `json:"orphans,omitempty"`
}

// CommitResult reports a push or revert.
type CommitResult struct {
	Commit   string `json:"commit"`
	Parent   string `json:"parent,omitempty"`
	Revision int64  `json:"revision"` // the store revision of the commit
	Changed  bool   `json:"changed"`  // false when the tree was unchanged and no commit was made
}

// Files is the content of one commit, for pull.
type Files struct {
	Commit string            `json:"commit"`
	Files  map[string][]byte `json:"files"`
}

// Commit is one entry of the log.
type Commit struct {
	ID      string    `json:"id"`
	Tree    string    `json:"tree"`
	Parents []string  `json:"parents,omitempty"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	Notes   []string  `json:"notes,omitempty"`
}

// RevertRequest asks for a new commit on Ref whose tree is Commit's.
type RevertRequest struct {
	Ref    string `json:"ref,omitempty"`
	Commit string `json:"commit"`
}

// Status describes the node answering and every live node of its store.
type Status struct {
	Node
	// Nodes lists every live node sharing the store, this one included, by name.
	Nodes []Node `json:"nodes"`
}

// Node is what one node serves.
type Node struct {
	Node     string `json:"node"`
	Ref      string `json:"ref"`
	Commit   string `json:"commit"`   // "" when nothing is deployed
	Revision int64  `json:"revision"` // the store revision up to which this node has applied ref changes
	// Wanted is the commit of the ref that this node does not serve because it does not
	// build there ("" when it serves what the ref names); Error says so, naming no code.
	Wanted string `json:"wanted,omitempty"`
	Error  string `json:"error,omitempty"`
	// Retrying is true when the build failed for a reason that may pass (a limit, the
	// store): the node retries it. Otherwise it waits for the next commit.
	Retrying bool `json:"retrying,omitempty"`
	// Problems locate the failure in Wanted's tree. Only GET /-/api/status (reader) shows
	// them; the public /-/status does not.
	Problems []Problem `json:"problems,omitempty"`
	// Rollout is the rollout this node follows, if one is stored for its ref.
	Rollout *NodeRollout `json:"rollout,omitempty"`
	Started time.Time    `json:"started"`
	Updated time.Time    `json:"updated"`
}

// Problem is one finding of the validation gate, located in the stored source.
type Problem struct {
	Path    string `json:"path"`
	Line    int    `json:"line,omitempty"`
	Col     int    `json:"col,omitempty"`
	Message string `json:"message"`
}

// Error is the body of every API error response.
type Error struct {
	Error    string    `json:"error"`
	Problems []Problem `json:"problems,omitempty"`
	// Code, when set, is a stable name of the error for programs: "starbase.outcome_unknown"
	// (503: the store did not say whether the change was committed; look before retrying),
	// "starbase.store_full" (507: the store refuses writes for space; nothing was written).
	Code string `json:"code,omitempty"`
}

// String renders p as path:line:col: message, the form editors and terminals link.
func (p Problem) String() string {
	if p.Line == 0 {
		return fmt.Sprintf("%s: %s", p.Path, p.Message)
	}
	return fmt.Sprintf("%s:%d:%d: %s", p.Path, p.Line, p.Col, p.Message)
}
