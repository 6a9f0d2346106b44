package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/objects"
)

// checkStoredClasses refuses a tree that would leave stored objects without a class: every
// class that has objects (Options.StoredClasses) must be declared by a model of the tree,
// by its name or as one of its aliases, unless Options.Orphans names it. It runs only when
// every module loaded (a module that fails is reported already, and its models unknown).
func (c *checker) checkStoredClasses(ctx context.Context) error {
	if c.opts.StoredClasses == nil {
		return nil
	}
	declared := map[string]bool{}
	for _, p := range c.sortedModules(false) {
		m := c.modules[p]
		if !m.loaded {
			return nil
		}
		for name, v := range m.globals {
			model, ok := v.(*objects.Model)
			if !ok || model.Module() != p || model.Name() != name {
				continue
			}
			declared[model.QualifiedName()] = true
			for _, a := range model.Aliases() {
				declared[a] = true
			}
		}
	}
	stored, err := c.opts.StoredClasses(ctx)
	if err != nil {
		return fmt.Errorf("gate: the classes of stored objects: %w", err)
	}
	for _, class := range stored {
		if declared[class] || slices.Contains(c.opts.Orphans, class) {
			continue
		}
		module, name, _ := strings.Cut(class, ":")
		c.add(api.Problem{Path: module, Message: fmt.Sprintf(
			"stored objects of class %s would have no class: the new code declares no model %s in %s, and no model lists %q in its aliases; "+
				"declare it, add %q to aliases = [...] of the model that replaces it, or push with --orphan %s to leave its objects as plain records",
			class, name, module, class, class, class)})
	}
	return nil
}
