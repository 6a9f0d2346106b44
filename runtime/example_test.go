package runtime_test

import (
	"context"
	"fmt"
	"log"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/runtime"
)

// The import hook: app.star loads lib/greet.star by its tree path, and the handler is
// then called with the request's snapshot.
func ExampleLoader() {
	files := map[string]string{
		"lib/greet.star": `
def greet(name):
    return "Hello, %s!" % name
`,
		"app.star": `
load("lib/greet.star", "greet")

def handle(name):
    return response(greet(name), headers = {"Cache-Control": "no-store"})
`,
	}
	// A snapshot of files held in memory; a node's snapshots read a commit's tree from
	// the store (code.Repo). The commit id keys what the loader resolved of the commit.
	snap := memtree.Text(files)
	snap.Commit = "c0ffee"

	loader, err := runtime.New(runtime.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer loader.Close()

	ctx := context.Background()
	app, err := loader.Load(ctx, snap, "app.star")
	if err != nil {
		log.Fatal(err)
	}
	handle := app["handle"].(starlark.Callable)
	v, err := loader.Call(ctx, snap, handle, starlark.Tuple{starlark.String("Ada")}, nil, runtime.CallOptions{})
	if err != nil {
		log.Fatal(err)
	}
	resp := v.(*runtime.Response)
	fmt.Println(resp.Status, resp.Body, resp.Headers)
	// Output:
	// 200 Hello, Ada! [[Cache-Control no-store]]
}
