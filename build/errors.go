package build

import (
	"fmt"
	"strings"

	"github.com/starbase/starbase/api"
)

// Error is returned by Build, Routes and Templates when the code of the tree has problems:
// the app cannot be built from it. It lists every problem found.
type Error struct {
	Problems []api.Problem
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "the app does not build (%d problem(s))", len(e.Problems))
	for _, p := range e.Problems {
		b.WriteString("\n  ")
		b.WriteString(p.String())
	}
	return b.String()
}
