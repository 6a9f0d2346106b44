package server

import (
	"errors"
	"html/template"
	"net/http"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/store"
)

// Rollback and errors of app requests (docs/data.md, Errors):
//
//   - a handler that returns a response() with a 4xx or 5xx status has its writes rolled
//     back, unless it called db.commit(); the answer is sent as returned;
//   - abort(status, message) rolls back and answers status with message, in JSON, HTML or
//     text by the Accept header;
//   - a value refused by a model's field is 422, naming the field;
//   - the platform's own data errors, a conflict that outlasted every re-run (409), a
//     transaction too large for the KV tier (413), a store full (507) and a commit whose
//     outcome the store did not tell (503, starbase.outcome_unknown: the writes may or may
//     not have been committed), are JSON with a stable code, so that a client tells them
//     from the app's own statuses.

// errRolledBack is returned to objects.Run by a handler whose answer is an error status:
// the writes are abandoned, and the answer is sent all the same.
var errRolledBack = errors.New("server: the handler answered an error status; its writes are rolled back")

// Codes of the platform's data errors (platformError.Code).
const (
	codeConflict     = "starbase.conflict"
	codeTooLarge     = "starbase.too_large"
	codeInvalidField = "starbase.invalid_field"
	codeStoreFull    = "starbase.store_full"
	// codeOutcomeUnknown: the store did not answer whether a write was committed.
	codeOutcomeUnknown = "starbase.outcome_unknown"
	// codeCommitDropped: the commit asked for was dropped by the code retention policy (410).
	codeCommitDropped = "starbase.commit_dropped"
)

// outcomeUnknownText starts the message of an answer whose outcome is unknown.
const outcomeUnknownText = "the store did not answer whether this change was committed: it may or may not have been; look (read it back, starbase log) before retrying: "

// platformError is the JSON answer of the platform's own data errors.
type platformError struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Field string `json:"field,omitempty"`
}

// errorStatus reports whether a handler's result answers an error status (4xx, 5xx).
func errorStatus(v starlark.Value) bool {
	r, ok := v.(*runtime.Response)
	return ok && r.Status >= 400
}

// answerDataError answers the errors of a request's data that are not the code's failure,
// and reports whether err was one of them. An abort is answered with the app's own page for
// its status, if page (which may be nil) writes one.
func answerDataError(w http.ResponseWriter, r *http.Request, err error, page pageFunc) bool {
	var ab *objects.AbortError
	var fe *objects.FieldError
	switch {
	case errors.As(err, &ab):
		if page == nil || !page(ab.Status, map[string]any{"message": ab.Message}) {
			answerAbort(w, r, ab)
		}
	case errors.As(err, &fe):
		writeJSON(w, http.StatusUnprocessableEntity, platformError{Error: fe.Error(), Code: codeInvalidField, Field: fe.Field})
	case errors.Is(err, objects.ErrConflict):
		writeJSON(w, http.StatusConflict, platformError{
			Error: "the data this request read kept changing under concurrent requests; nothing was written; retry the request",
			Code:  codeConflict,
		})
	case errors.Is(err, objects.ErrTooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, platformError{
			Error: "the request read or wrote more data than one transaction of the data tier holds; nothing was written",
			Code:  codeTooLarge,
		})
	case errors.Is(err, store.ErrOutcomeUnknown):
		writeJSON(w, http.StatusServiceUnavailable, platformError{Error: outcomeUnknownText + err.Error(), Code: codeOutcomeUnknown})
	case errors.Is(err, store.ErrFull):
		writeJSON(w, http.StatusInsufficientStorage, platformError{
			Error: "the store is full and refuses writes; nothing was written. An operator must make room (see /-/health and the README, Operating): " + err.Error(),
			Code:  codeStoreFull,
		})
	default:
		return false
	}
	return true
}

var abortPage = template.Must(template.New("abort").Parse(
	`<!doctype html><meta charset="utf-8"><title>{{.Status}}</title><p>{{.Message}}</p>` + "\n"))

// answerAbort answers abort(status, message).
func answerAbort(w http.ResponseWriter, r *http.Request, ab *objects.AbortError) {
	w.Header().Set("Cache-Control", "no-store")
	switch errorFormat(r) {
	case "json":
		writeJSON(w, ab.Status, struct {
			Error  string `json:"error"`
			Status int    `json:"status"`
		}{ab.Message, ab.Status})
	case "html":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", errorPageCSP)
		w.WriteHeader(ab.Status)
		abortPage.Execute(w, ab)
	default:
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(ab.Status)
		w.Write([]byte(ab.Message + "\n"))
	}
}
