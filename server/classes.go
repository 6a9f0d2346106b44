package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// classResolver binds stored objects to their classes as defined in rel's commit: by their
// name, else by an alias that a model of the commit declares (objects/classes.go), found by
// loading every module of the commit once, on the first class not found by its name.
func (s *Server) classResolver(rel *release) objects.ClassResolver {
	var once sync.Once
	var aliases map[string]*objects.Model
	var aliasErr error
	return func(ctx context.Context, module, name string) (*objects.Model, error) {
		m, err := s.classByName(ctx, rel, module, name)
		if !errors.Is(err, objects.ErrNoClass) {
			return m, err
		}
		once.Do(func() { aliases, aliasErr = s.aliases(ctx, rel) })
		if aliasErr != nil {
			return nil, fmt.Errorf("%w (and the aliases of commit %s could not be read: %v)", err, rel.commit.Short(), aliasErr)
		}
		if alias := aliases[module+":"+name]; alias != nil {
			return alias, nil
		}
		return nil, err
	}
}

func (s *Server) classByName(ctx context.Context, rel *release, module, name string) (*objects.Model, error) {
	if _, ok := rel.snap.Tree[module]; !ok {
		return nil, fmt.Errorf("%w: module %s is not in commit %s", objects.ErrNoClass, module, rel.commit.Short())
	}
	globals, err := s.loader.Load(ctx, rel.snap, module)
	if err != nil {
		return nil, err
	}
	return objects.ClassIn(globals, module, name)
}

// aliases loads every module of rel and indexes the aliases of their models.
func (s *Server) aliases(ctx context.Context, rel *release) (map[string]*objects.Model, error) {
	modules, err := loadModules(ctx, s.loader, rel.snap)
	if err != nil {
		return nil, err
	}
	return objects.Aliases(modules), nil
}

// loadModules loads every module of snap but the tests (a gated tree's modules load).
func loadModules(ctx context.Context, loader *runtime.Loader, snap *runtime.Snapshot) (map[string]starlark.StringDict, error) {
	modules := map[string]starlark.StringDict{}
	for path := range snap.Tree {
		if !strings.HasSuffix(path, ".star") || strings.HasSuffix(path, gate.TestSuffix) {
			continue
		}
		globals, err := loader.Load(ctx, snap, path)
		if err != nil {
			return nil, err
		}
		modules[path] = globals
	}
	return modules, nil
}

// modelsOf returns the models declared by the code that ref names (none when the ref does
// not exist yet), by qualified name, for the gate's check of field types. Code that no
// longer loads (it passed an older gate) gives none, and the check is skipped, logged.
func (p *publisher) modelsOf(ctx context.Context, ref string) (map[string]*objects.Model, error) {
	id, _, err := p.repo.Ref(ctx, ref)
	if errors.Is(err, code.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := p.repo.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	tree, err := p.repo.Tree(ctx, c.Tree)
	if err != nil {
		return nil, err
	}
	modules, err := loadModules(ctx, p.gate.Loader, &runtime.Snapshot{Commit: id, Tree: tree, Blobs: p.repo})
	if err != nil {
		if ctx.Err() != nil {
			return nil, err
		}
		p.log.Warn("the models of the code a push replaces do not load; field types not compared", "ref", ref, "commit", id, "error", err)
		return nil, nil
	}
	models := map[string]*objects.Model{}
	for path, globals := range modules {
		for name, v := range globals {
			if m, ok := v.(*objects.Model); ok && m.Module() == path && m.Name() == name {
				models[m.QualifiedName()] = m
			}
		}
	}
	return models, nil
}

// storedClasses lists the classes that have objects in the data tier, for the gate. More
// than objects.MaxStoredClasses classes fail the check rather than check some of them.
func (s *Server) storedClasses(ctx context.Context) ([]string, error) {
	classes, more, err := objects.StoredClasses(ctx, s.cfg.Data, objects.MaxStoredClasses)
	if err == nil && more {
		err = fmt.Errorf("more than %d classes have stored objects; the gate checks at most that many", objects.MaxStoredClasses)
	}
	return classes, err
}

// buildIndexes starts building the indexes that the models of ref's code declare, after a
// push (objects.BuildIndexes); a failure is logged: the indexes are built on first use then.
func (s *Server) buildIndexes(ctx context.Context, ref string) {
	models, err := s.publisher.modelsOf(ctx, ref)
	if err == nil {
		list := make([]*objects.Model, 0, len(models))
		for _, m := range models {
			list = append(list, m)
		}
		err = objects.BuildIndexes(ctx, s.cfg.Data, list)
	}
	if err != nil {
		s.log.Warn("building the indexes a push declares", "ref", ref, "error", err)
	}
}
