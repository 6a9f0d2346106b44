package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/starbase/starbase/objects"
)

// TestAnswerDataError_PlatformErrorsAreJSONWithAStableCode checks the answers of the
// platform's own data errors: JSON with a code an app's status cannot be mistaken for, and
// no internal detail (keys, revisions) of the wrapped error.
func TestAnswerDataError_PlatformErrorsAreJSONWithAStableCode(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{fmt.Errorf("%w: gave up after 10 attempts (compare failed on data/obj/0123)", objects.ErrConflict), 409, codeConflict},
		{fmt.Errorf("%w: it read 300 keys", objects.ErrTooLarge), 413, codeTooLarge},
		{fmt.Errorf("db.put: %w", &objects.FieldError{Model: "Item", Field: "count", Reason: "want int"}), 422, codeInvalidField},
	} {
		w := httptest.NewRecorder()
		if !answerDataError(w, httptest.NewRequest("GET", "/", nil), tc.err, nil) {
			t.Fatalf("%v: not answered", tc.err)
		}
		var body platformError
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != tc.status || body.Code != tc.code {
			t.Errorf("%v: %d %q, want %d with code %s", tc.err, w.Code, w.Body, tc.status, tc.code)
		}
		if w.Header().Get("Content-Type") != "application/json" {
			t.Errorf("%v: Content-Type %q", tc.err, w.Header().Get("Content-Type"))
		}
		if tc.status == 409 && containsAny(w.Body.String(), "data/obj", "compare") {
			t.Errorf("the conflict answer names internals: %s", w.Body)
		}
	}
	if answerDataError(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil), errors.New("app bug"), nil) {
		t.Errorf("an app's own error was answered as a data error")
	}
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
