package server

import (
	"fmt"

	"github.com/starbase/starbase/runtime"
)

// Resource limits of app requests are runtime.Limits (Config.Limits): the loader enforces
// steps, time, memory and call depth while stored code runs, and the server enforces the
// rest of a request's budget here and in serveApp:
//
//   - the response body: a handler's string, bytes or response() body over
//     Limits.MaxResponseBytes, or a dict or list whose JSON would be, is answered 500
//     with an error id, and the log records the size and the limit. JSON is encoded
//     into a buffer that fails as soon as it would pass the limit (encodeJSON), so a
//     result that shares structure (the same big string referenced a thousand times)
//     costs at most the limit, never its expansion;
//   - print() output: Limits.MaxPrintLines and MaxPrintBytes per request, through one
//     printlog.Budget the request's runs share, which drops the excess and logs how
//     much it dropped.

// checkResponseSize refuses a body of n bytes over max.
func checkResponseSize(what string, n int, max runtime.ByteSize) error {
	if int64(n) > int64(max) {
		return fmt.Errorf("%w: the handler returned %s of %s, over the limit of %s (Limits.MaxResponseBytes, serve --max-response)",
			runtime.ErrResponseTooLarge, what, runtime.ByteSize(n), max)
	}
	return nil
}
