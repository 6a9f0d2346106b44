package sandbox_test

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/runtime"
	"github.com/starbase/starbase/sandbox"
)

// TestBuiltinsDoc_ListsEveryName holds docs/builtins.md to what stored code can reach: the
// Starlark universe, runtime.Builtins and Predeclared, each module with its members. A
// reachable name the page does not describe fails, and so does a name it describes that
// stored code cannot reach.
func TestBuiltinsDoc_ListsEveryName(t *testing.T) {
	raw, err := os.ReadFile("../docs/builtins.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	names := runtime.Builtins()
	for k, v := range sandbox.Predeclared() {
		names[k] = v
	}

	// The universe, in the section that lists it.
	language, _, _ := strings.Cut(doc[strings.Index(doc, "## The language"):], "\n## Platform")
	for _, name := range starlark.Universe.Keys() {
		if !strings.Contains(language, "`"+name+"`") {
			t.Errorf("docs/builtins.md, The language: the universe name %s is not listed", name)
		}
	}

	// Each predeclared name has a heading, and each member of a module is named.
	headings := map[string]bool{}
	for _, m := range regexp.MustCompile("(?m)^### `(\\w+)`$").FindAllStringSubmatch(doc, -1) {
		headings[m[1]] = true
	}
	for _, name := range names.Keys() {
		if !headings[name] {
			t.Errorf("docs/builtins.md: %s is reachable by stored code but has no heading \"### `%s`\"", name, name)
		}
		module, ok := names[name].(starlark.HasAttrs)
		if !ok {
			continue
		}
		for _, member := range module.AttrNames() {
			if !regexp.MustCompile("`" + name + `\.` + member + "[`(]").MatchString(doc) {
				t.Errorf("docs/builtins.md: %s.%s is reachable by stored code but not described", name, member)
			}
		}
	}

	// Nothing described is unreachable.
	for heading := range headings {
		if _, ok := names[heading]; !ok {
			t.Errorf("docs/builtins.md describes %s, which stored code cannot reach", heading)
		}
	}
	for _, m := range regexp.MustCompile("`(\\w+)\\.(\\w+)").FindAllStringSubmatch(doc, -1) {
		module, ok := names[m[1]].(starlark.HasAttrs)
		if !ok {
			continue // a method of a value (obj.id), not a module member
		}
		if !slices.Contains(module.AttrNames(), m[2]) {
			t.Errorf("docs/builtins.md describes %s.%s, which stored code cannot reach", m[1], m[2])
		}
	}
}
