package server

import (
	"fmt"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
)

// Resource limits of app requests are runtime.Limits (Config.Limits): the loader enforces
// steps, time, memory and call depth while stored code runs, and the server enforces the
// rest of a request's budget here and in serveApp:
//
//   - the response body: a handler's string, bytes or response() body over
//     Limits.MaxResponseBytes, or a dict or list whose JSON would be, is answered 500
//     with an error id, and the log records the size and the limit. JSON is measured
//     (runtime.JSONSize) before it is encoded, so a result that shares structure (the
//     same big string referenced a thousand times) is refused without being expanded;
//   - print() output: Limits.MaxPrintLines and MaxPrintBytes per request, through the
//     printlog handler, which drops the excess and logs how much it dropped.

// checkResponseSize refuses a body of n bytes over max.
func checkResponseSize(what string, n int, max runtime.ByteSize) error {
	if int64(n) > int64(max) {
		return fmt.Errorf("%w: the handler returned %s of %s, over the limit of %s (Limits.MaxResponseBytes, serve --max-response)",
			runtime.ErrResponseTooLarge, what, runtime.ByteSize(n), max)
	}
	return nil
}

// checkJSONSize refuses a handler result whose JSON encoding would exceed max, before
// encoding it.
func checkJSONSize(v starlark.Value, max runtime.ByteSize) error {
	n, err := runtime.JSONSize(v, max)
	if err != nil {
		return fmt.Errorf("handler result is not JSON-encodable: %w", err)
	}
	if n > max {
		return fmt.Errorf("%w: the handler returned a %s whose JSON would be larger than %s, over the limit of %s (Limits.MaxResponseBytes, serve --max-response)",
			runtime.ErrResponseTooLarge, v.Type(), max, max)
	}
	return nil
}
