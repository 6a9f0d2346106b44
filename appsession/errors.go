package appsession

import "errors"

var (
	// ErrCSRF is returned by State.CheckCSRF when a request the CSRF rule covers carries no
	// valid token. The server answers 403 and the handler does not run.
	ErrCSRF = errors.New("appsession: CSRF token missing or invalid")

	// ErrNoSession is returned by the session builtins when no request is being handled: at
	// a module's top level, or in a test function (which reaches sessions through the test
	// client's requests).
	ErrNoSession = errors.New("appsession: the session is only available while handling a request")

	// ErrInvalid is returned (wrapped) for a value a session cannot keep, or a bad argument.
	ErrInvalid = errors.New("appsession: invalid")
)
