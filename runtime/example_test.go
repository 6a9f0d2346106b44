package runtime_test

import (
	"context"
	"fmt"
	"log"

	"go.starlark.net/starlark"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/runtime"
)

// blobMap is a BlobSource over blobs held in memory.
type blobMap map[code.ID][]byte

func (m blobMap) Blob(_ context.Context, id code.ID) ([]byte, error) {
	b, ok := m[id]
	if !ok {
		return nil, fmt.Errorf("blob %s: not found", id.Short())
	}
	return b, nil
}

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
	blobs, tree := blobMap{}, code.Tree{}
	for path, src := range files {
		id := code.HashBlob([]byte(src))
		blobs[id], tree[path] = []byte(src), id
	}
	snap := &runtime.Snapshot{Commit: "c0ffee", Tree: tree, Blobs: blobs}

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
