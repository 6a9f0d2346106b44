package gate

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/objects"
)

// declaredModels returns the models the loaded modules declare (bound to their own name in
// their own module), by path and name; ok false when a module did not load.
func (c *checker) declaredModels() (models []*objects.Model, ok bool) {
	for _, p := range c.sortedModules(false) {
		m := c.modules[p]
		if !m.loaded {
			return nil, false
		}
		for name, v := range m.globals {
			if model, isModel := v.(*objects.Model); isModel && model.Module() == p && model.Name() == name {
				models = append(models, model)
			}
		}
	}
	return models, true
}

// checkFieldTypes refuses a model whose field changed type from the code it replaces
// (Options.Previous) unless the model's version is higher and it declares migrate: stored
// objects hold values of the old type, which only a migrate function turns into the new.
func (c *checker) checkFieldTypes(ctx context.Context) error {
	if c.opts.Previous == nil {
		return nil
	}
	models, ok := c.declaredModels()
	if !ok {
		return nil
	}
	previous, err := c.opts.Previous(ctx)
	if err != nil {
		return fmt.Errorf("gate: the models of the code replaced: %w", err)
	}
	slices.SortFunc(models, func(a, b *objects.Model) int { return strings.Compare(a.QualifiedName(), b.QualifiedName()) })
	for _, m := range models {
		old := previous[m.QualifiedName()]
		for _, a := range m.Aliases() {
			if old == nil {
				old = previous[a]
			}
		}
		if old == nil {
			continue
		}
		for _, f := range m.Fields() {
			was, had := old.FieldType(f)
			now, _ := m.FieldType(f)
			if !had || was == now || now == "" {
				continue // a new field, the same type, or one that takes any value
			}
			if m.Version() > old.Version() && m.HasMigrate() {
				continue
			}
			c.add(api.Problem{Path: m.Module(), Message: fmt.Sprintf(
				"field %s of %s changes type from %s to %s: stored objects hold %s values; raise the model's version (now %d) and declare migrate(fields, from_version) returning the field as %s",
				f, m.Name(), typeName(was), now, typeName(was), old.Version(), now)})
		}
	}
	return nil
}

func typeName(t string) string {
	if t == "" {
		return "any type"
	}
	return t
}

// checkStoredClasses refuses a tree that would leave stored objects without a class: every
// class that has objects (Options.StoredClasses) must be declared by a model of the tree,
// by its name or as one of its aliases, unless Options.Orphans names it. It runs only when
// every module loaded (a module that fails is reported already, and its models unknown).
func (c *checker) checkStoredClasses(ctx context.Context) error {
	if c.opts.StoredClasses == nil {
		return nil
	}
	models, ok := c.declaredModels()
	if !ok {
		return nil
	}
	declared := map[string]bool{}
	for _, model := range models {
		declared[model.QualifiedName()] = true
		for _, a := range model.Aliases() {
			declared[a] = true
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
