package objects_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/sqlite"
)

// A module declares a model and a handler; three requests each count a hit.
func Example() {
	dir, err := os.MkdirTemp("", "objects-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	// The data tier: SQLite in the data directory (objects.KV(st) keeps objects in a
	// bolt or etcd store instead).
	data, err := sqlite.Open(context.Background(), filepath.Join(dir, "data.sqlite"), nil)
	if err != nil {
		log.Fatal(err)
	}
	defer data.Close()

	const src = `
def _incr(self):
    self.value += 1

Counter = model("Counter", fields = {"page": "", "value": 0}, methods = {"incr": _incr}, indexes = ["page"])

def hit(page):
    found = db.find(Counter, page = page)
    c = found[0] if found else Counter(page = page)
    c.incr()
    db.put(c)
    return c.value
`
	// The loader runs each module with the package's builtins predeclared and the module's
	// path as its filename, then freezes it.
	opts := &syntax.FileOptions{While: true, Recursion: true, Set: true, TopLevelControl: true}
	globals, err := starlark.ExecFileOptions(opts, &starlark.Thread{}, "counters.star", src, objects.Builtins())
	if err != nil {
		log.Fatal(err)
	}
	globals.Freeze()
	resolve := func(ctx context.Context, module, name string) (*objects.Model, error) {
		if module != "counters.star" {
			return nil, fmt.Errorf("%w: no module %s", objects.ErrNoClass, module)
		}
		return objects.ClassIn(globals, module, name)
	}

	// Each request runs its handler in a transaction, in a thread bound to it.
	for range 3 {
		var hits starlark.Value
		err := objects.Run(context.Background(), data, resolve, 10, func(tx *objects.Tx) error {
			thread := &starlark.Thread{Name: "GET /"}
			objects.Bind(thread, tx)
			hits, err = starlark.Call(thread, globals["hit"], starlark.Tuple{starlark.String("/")}, nil)
			return err
		})
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(hits)
	}
	// Output:
	// 1
	// 2
	// 3
}
