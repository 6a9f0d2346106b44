package build

import (
	"fmt"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/objects"
)

// Models reports the models declared by the module at path (whose globals and syntax are
// given; file may be nil) that are not bound to a global of their own name there. A stored
// object records its class as MODULE:NAME and is bound, when read, to the global NAME of
// MODULE: a model("Counter") bound only to Thing could store objects no request can read.
// (model() itself checks the rest of a declaration when it runs: fields, indexes on
// declared fields, version, migrate.)
func Models(path string, globals starlark.StringDict, file *syntax.File) []api.Problem {
	var names []string
	for name := range globals {
		names = append(names, name)
	}
	sort.Strings(names)
	var problems []api.Problem
	reported := map[*objects.Model]bool{}
	for _, g := range names {
		m, ok := globals[g].(*objects.Model)
		if !ok || m.Module() != path || reported[m] {
			continue
		}
		if bound, ok := globals[m.Name()].(*objects.Model); ok && bound == m {
			continue
		}
		reported[m] = true
		p := api.Problem{Path: path, Message: fmt.Sprintf(
			"model %q is bound to the global %s: stored objects name their class %s:%s and are read back through the global of that name; write %s = model(%q, ...)",
			m.Name(), g, path, m.Name(), m.Name(), m.Name())}
		if file != nil {
			if pos := bindingPos(file, g); pos.IsValid() {
				p.Line, p.Col = int(pos.Line), int(pos.Col)
			}
		}
		problems = append(problems, p)
	}
	return problems
}
