package objects

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.starlark.net/starlark"
)

// Class identity. A stored object names its class ("billing.star:Invoice"). A model that
// replaces a class under another name or in another module declares the old names:
//
//	Invoice = model("Invoice", fields = {...}, aliases = ["billing.star:Invoice"])
//
// and a ClassResolver returns that model for the old names too. An object stored under an
// old name is then bound to the model as if it were its own: read as usual, and moved to
// the model's name when it is next written (on a SQL tier, its row's class; on the KV tier,
// its membership and index keys). Queries, find and list select by the model's own name: an
// object shows there once it was written under it. `starbase migrate OLD_CLASS` writes
// every object of the old name (Migrate), which completes the move.
//
// The validation gate refuses a push that would leave stored objects without a class: it
// asks the data tier for the classes that have objects (StoredClasses), and every one must
// be declared by the new code, or be an alias of a model it declares, unless the push names
// it as an orphan it accepts (the objects then stay readable as plain records).

// MaxStoredClasses bounds the classes StoredClasses returns.
const MaxStoredClasses = 10000

// StoredClasses returns the qualified names of the classes that have at least one object in
// eng, sorted, at most limit (at most MaxStoredClasses) of them; more reports that there are
// others.
func StoredClasses(ctx context.Context, eng Engine, limit int) (classes []string, more bool, err error) {
	limit = min(max(limit, 1), MaxStoredClasses)
	err = Run(ctx, eng, nil, TxAttemptsReadOnly, func(tx *Tx) error {
		d, err := tx.dtx()
		if err != nil {
			return err
		}
		classes, err = d.classes(limit + 1)
		return tx.failed(err)
	})
	if err != nil {
		return nil, false, fmt.Errorf("objects: listing the stored classes: %w", err)
	}
	if len(classes) > limit {
		return classes[:limit], true, nil
	}
	return classes, false, nil
}

// TxAttemptsReadOnly is how many times the platform's own read-only transactions run.
const TxAttemptsReadOnly = 10

// declares reports whether m is the model of class qualified: its own name or an alias.
func (m *Model) declares(qualified string) bool {
	if m.QualifiedName() == qualified {
		return true
	}
	for _, a := range m.aliases {
		if a == qualified {
			return true
		}
	}
	return false
}

// FieldType returns the type a declared field takes ("" when its default is None: any
// type), ok false when the model does not declare it.
func (m *Model) FieldType(field string) (typ string, ok bool) {
	typ, ok = m.types[field]
	return typ, ok
}

// HasMigrate reports whether the model declares a migrate function.
func (m *Model) HasMigrate() bool { return m.migrate != nil }

// Aliases returns the old qualified names the model declares (model(..., aliases = [...])).
func (m *Model) Aliases() []string { return append([]string(nil), m.aliases...) }

// checkAlias checks an alias: a qualified class name "path.star:Name" other than the
// model's own.
func checkAlias(m *Model, alias string) error {
	module, name, ok := strings.Cut(alias, ":")
	if !ok || !strings.HasSuffix(module, ".star") || !isIdentifier(name) || strings.Contains(name, ":") {
		return fmt.Errorf("alias %q: want a qualified class name, the module's path, \":\" and the model's name (\"billing/invoice.star:Invoice\")", alias)
	}
	if alias == m.QualifiedName() {
		return fmt.Errorf("alias %q is the model's own name", alias)
	}
	return nil
}

// classes of the KV tier: the class version keys name every class that ever had objects;
// those with a membership key still have some.
func (tx *kvTx) classes(limit int) ([]string, error) {
	var out []string
	after := ""
	for len(out) < limit {
		keys, err := tx.keys(versionPrefix, after, 100)
		if err != nil {
			return nil, err
		}
		for _, k := range keys {
			class, err := url.PathUnescape(strings.TrimPrefix(k, versionPrefix))
			if err != nil {
				continue
			}
			members, err := tx.keys(membersPrefix(class), "", 1)
			if err != nil {
				return nil, err
			}
			if len(members) > 0 && len(out) < limit {
				out = append(out, class)
			}
		}
		if len(keys) < 100 {
			break
		}
		after = keys[len(keys)-1]
	}
	return out, nil
}

func (t *sqlTx) classes(limit int) ([]string, error) {
	if err := t.begin(); err != nil {
		return nil, err
	}
	rows, err := t.tx.QueryContext(t.ctx, t.e.rebind(`SELECT name FROM starbase_classes c
		WHERE EXISTS (SELECT 1 FROM starbase_objects o WHERE o.class_id = c.id) ORDER BY name LIMIT ?`), limit)
	if err != nil {
		return nil, t.errf(err, "listing the classes")
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, t.errf(err, "listing the classes")
		}
		out = append(out, name)
	}
	return out, t.errf(rows.Err(), "listing the classes")
}

// Aliases indexes the aliases that the models of modules declare (module path -> its
// globals): old qualified name -> model. A ClassResolver that does not find a class by its
// name looks it up there. An alias declared by two models is left out: it names no class
// for certain (the gate refuses such a tree).
func Aliases(modules map[string]starlark.StringDict) map[string]*Model {
	index := map[string]*Model{}
	twice := map[string]bool{}
	for path, globals := range modules {
		for name, v := range globals {
			m, ok := v.(*Model)
			if !ok || m.module != path || m.name != name {
				continue // declared elsewhere, or not bound to its own name
			}
			for _, a := range m.aliases {
				if other, ok := index[a]; ok && other != m {
					twice[a] = true
				}
				index[a] = m
			}
		}
	}
	for a := range twice {
		delete(index, a)
	}
	return index
}

// BuildIndexes starts building, in the background, the indexes that models declare and the
// data tier lacks, for the classes that have objects (a class without objects gets its
// indexes when its first object is written): a node calls it when a push declares them, so
// that the first query does not find them missing. On a SQL tier a build never blocks
// readers (PostgreSQL builds CONCURRENTLY; SQLite holds its write lock meanwhile, so writes
// wait for it), and a failed build is logged and tried again on the next use. The KV tier
// keeps index entries as objects are written: there, it does nothing (Migrate indexes the
// objects written before an index was declared).
func BuildIndexes(ctx context.Context, eng Engine, models []*Model) error {
	e, ok := eng.(*sqlEngine)
	if !ok {
		return nil
	}
	for _, m := range models {
		if len(m.indexes)+len(m.composites) == 0 {
			continue
		}
		var cid int64
		err := Run(ctx, eng, nil, TxAttemptsReadOnly, func(tx *Tx) error {
			d, err := tx.dtx()
			if err != nil {
				return err
			}
			cid, err = d.(*sqlTx).classID(m.QualifiedName(), false)
			return tx.failed(err)
		})
		if err != nil {
			return fmt.Errorf("objects: building the indexes of %s: %w", m.QualifiedName(), err)
		}
		if cid != 0 {
			e.ensureIndexes(m.QualifiedName(), m.sqlIndexes, cid)
		}
	}
	return nil
}
