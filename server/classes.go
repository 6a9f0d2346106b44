package server

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/objects"
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

// aliases loads every module of rel (not the tests; they passed the gate) and indexes the
// aliases of their models.
func (s *Server) aliases(ctx context.Context, rel *release) (map[string]*objects.Model, error) {
	modules := map[string]starlark.StringDict{}
	for path := range rel.snap.Tree {
		if !strings.HasSuffix(path, ".star") || strings.HasSuffix(path, gate.TestSuffix) {
			continue
		}
		globals, err := s.loader.Load(ctx, rel.snap, path)
		if err != nil {
			return nil, err
		}
		modules[path] = globals
	}
	return objects.Aliases(modules), nil
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
