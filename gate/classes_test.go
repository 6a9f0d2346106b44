package gate_test

import (
	"context"
	"strings"
	"testing"

	"github.com/starbase/starbase/gate"
	"github.com/starbase/starbase/internal/memtree"
	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/runtime"
)

// modelsOf loads module of files and returns its models by qualified name, as the server
// gives the gate the models of the code a push replaces.
func modelsOf(t *testing.T, l *runtime.Loader, files map[string]string, module string) map[string]*objects.Model {
	t.Helper()
	globals, err := l.Load(context.Background(), memtree.Snapshot(toBytes(files)), module)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*objects.Model{}
	for _, v := range globals {
		if m, ok := v.(*objects.Model); ok {
			out[m.QualifiedName()] = m
		}
	}
	return out
}

func TestCheck_AFieldTypeChangeNeedsAVersionAndMigrate(t *testing.T) {
	l := sandboxLoader(t)
	before := modelsOf(t, l, map[string]string{"shop.star": `Item = model("Item", fields = {"name": "", "price": 0})`}, "shop.star")
	previous := func(context.Context) (map[string]*objects.Model, error) { return before, nil }
	for _, tc := range []struct {
		name, src, want string
	}{
		{"int to float, same version", `Item = model("Item", fields = {"name": "", "price": 0.0})`,
			"shop.star: field price of Item changes type from int to float: stored objects hold int values; raise the model's version (now 1) and declare migrate"},
		{"a version without migrate", `Item = model("Item", fields = {"name": "", "price": 0.0}, version = 2)`, "field price of Item changes type"},
		{"migrate without a version", `Item = model("Item", fields = {"name": "", "price": 0.0}, migrate = lambda f, v: f)`, "field price of Item changes type"},
		{"version and migrate", `Item = model("Item", fields = {"name": "", "price": 0.0}, version = 2, migrate = lambda f, v: f)`, ""},
		{"a new field", `Item = model("Item", fields = {"name": "", "price": 0, "stock": 0})`, ""},
		{"None takes any type", `Item = model("Item", fields = {"name": "", "price": None})`, ""},
		{"renamed with an alias, type changed", `Product = model("Product", fields = {"name": 0, "price": 0}, aliases = ["shop.star:Item"])`,
			"field name of Product changes type from string to int"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			file := "shop.star"
			if strings.HasPrefix(tc.src, "Product") {
				file = "catalog.star"
			}
			rep := run(t, map[string]string{file: tc.src}, gate.Options{Loader: l, Previous: previous})
			got := strings.Join(problems(rep), "\n")
			if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
				t.Errorf("problems:\n%s\nwant one containing %q", got, tc.want)
			}
		})
	}
}

func TestCheck_RefusesATreeThatOrphansStoredObjects(t *testing.T) {
	l := sandboxLoader(t)
	stored := func(context.Context) ([]string, error) {
		return []string{"catalog.star:Product", "shop.star:Item", "tags.star:Tag"}, nil
	}
	files := map[string]string{
		"catalog.star": `Product = model("Product", fields = {"name": ""}, aliases = ["shop.star:Item"])`,
	}
	rep := run(t, files, gate.Options{Loader: l, StoredClasses: stored})
	got := problems(rep)
	if len(got) != 1 || !strings.Contains(got[0], "tags.star: stored objects of class tags.star:Tag would have no class") {
		t.Errorf("problems: %q, want one naming tags.star:Tag (Product is declared, shop.star:Item is its alias)", got)
	}
	rep = run(t, files, gate.Options{Loader: l, StoredClasses: stored, Orphans: []string{"tags.star:Tag"}})
	if got := problems(rep); len(got) != 0 {
		t.Errorf("with tags.star:Tag named as an orphan: problems %q, want none", got)
	}
}
