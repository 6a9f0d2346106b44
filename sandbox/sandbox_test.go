package sandbox_test

import (
	"slices"
	"testing"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

// TestPredeclared_IsTheDocumentedList guards the sandbox boundary: a new name reachable from
// stored code must be a deliberate, documented change.
func TestPredeclared_IsTheDocumentedList(t *testing.T) {
	var got []string
	for name := range runtime.Builtins() {
		got = append(got, name)
	}
	for name := range sandbox.Predeclared() {
		got = append(got, name)
	}
	slices.Sort(got)
	want := []string{"abort", "base64", "csrf_token", "db", "decimal", "delete_cookie", "hashlib", "hmac", "json", "log", "math", "model",
		"password", "redirect", "render", "response", "secrets", "session", "set_cookie", "struct", "time", "url", "uuid"}
	if !slices.Equal(got, want) {
		t.Fatalf("stored code can reach %v, want exactly %v (update the package doc and SECURITY.md)", got, want)
	}
}
