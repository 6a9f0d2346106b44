package server

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/store"
)

var (
	errBadRequest = errors.New("bad request")
	errTooLarge   = errors.New("request too large")
	errNoEndpoint = errors.New("no such API endpoint")
	// errCSRF is returned when a state-changing request made with a session cookie comes
	// from another site or lacks the session's CSRF token.
	errCSRF = errors.New("forbidden: cross-site request refused")
	// errRateLimited is returned when a source failed to authenticate too often.
	errRateLimited = errors.New("rate limited")
	// errUnknownError is returned when a node does not remember an app error id.
	errUnknownError = errors.New("no such error")
)

// statusOf maps an error to its HTTP status. It is the only place that does.
func statusOf(err error) int {
	var gerr *gate.Error
	switch {
	case errors.As(err, &gerr):
		return http.StatusUnprocessableEntity
	case errors.Is(err, auth.ErrUnauthenticated):
		return http.StatusUnauthorized
	case errors.Is(err, auth.ErrForbidden), errors.Is(err, errCSRF):
		return http.StatusForbidden
	case errors.Is(err, errRateLimited):
		return http.StatusTooManyRequests
	case errors.Is(err, errBodyTimeout):
		return http.StatusRequestTimeout
	case errors.Is(err, errBadRequest), errors.Is(err, auth.ErrInvalidRequest), errors.Is(err, code.ErrInvalidPath), errors.Is(err, code.ErrInvalidID),
		errors.Is(err, code.ErrInvalidRef), errors.Is(err, code.ErrInvalidRequest),
		errors.Is(err, code.ErrPrefixTooShort), errors.Is(err, code.ErrAmbiguous):
		return http.StatusBadRequest
	case errors.Is(err, errTooLarge), errors.Is(err, store.ErrTooLarge), errors.Is(err, code.ErrTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, code.ErrDropped):
		return http.StatusGone
	case errors.Is(err, code.ErrNotFound), errors.Is(err, errNoEndpoint), errors.Is(err, auth.ErrNotFound),
		errors.Is(err, objects.ErrNoClass), errors.Is(err, errUnknownError):
		return http.StatusNotFound
	case errors.Is(err, code.ErrStale), errors.Is(err, code.ErrConflict), errors.Is(err, store.ErrConflict),
		errors.Is(err, auth.ErrExists), errors.Is(err, auth.ErrLastAdmin), errors.Is(err, auth.ErrConflict),
		errors.Is(err, objects.ErrConflict), errors.Is(err, objects.ErrNewerObject):
		return http.StatusConflict
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrOutcomeUnknown):
		return http.StatusServiceUnavailable
	case errors.Is(err, store.ErrFull):
		return http.StatusInsufficientStorage
	}
	return http.StatusInternalServerError
}

// errorCode is the stable code of an error whose status alone does not say what a client
// should do (api.Error.Code), "" for the others.
func errorCode(err error) string {
	switch {
	case errors.Is(err, store.ErrOutcomeUnknown):
		return codeOutcomeUnknown
	case errors.Is(err, store.ErrFull):
		return codeStoreFull
	case errors.Is(err, code.ErrDropped):
		return codeCommitDropped
	}
	return ""
}

// appStatus is the status of a failed app request: the store being unavailable (503) or
// full (507) and data conflicts (409) are not the code's fault; everything else is a 500.
func appStatus(err error) int {
	switch {
	case errors.Is(err, store.ErrUnavailable):
		return http.StatusServiceUnavailable
	case errors.Is(err, store.ErrFull):
		return http.StatusInsufficientStorage
	case errors.Is(err, objects.ErrConflict), errors.Is(err, objects.ErrNewerObject):
		return http.StatusConflict
	}
	return http.StatusInternalServerError
}

// writeError answers err as an api.Error with its status.
func writeError(w http.ResponseWriter, err error) {
	body := api.Error{Error: err.Error(), Code: errorCode(err)}
	if body.Code == codeOutcomeUnknown {
		body.Error = outcomeUnknownText + err.Error()
	}
	var gerr *gate.Error
	if errors.As(err, &gerr) {
		body.Error, body.Problems = gerr.Summary(), gerr.Problems
	}
	if errors.Is(err, auth.ErrUnauthenticated) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="starbase"`)
	}
	writeJSON(w, statusOf(err), body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}
