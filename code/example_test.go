package code_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/starbase/starbase/code"
	"github.com/starbase/starbase/store/bolt"
)

// A push publishes a whole set of files as one commit; the next push names the commit it
// was based on, and the difference between the two is a Git-style diff.
func ExampleRepo_Push() {
	dir, err := os.MkdirTemp("", "starbase-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	s, err := bolt.Open(filepath.Join(dir, "starbase.db"), bolt.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	repo := code.NewRepo(s)
	when := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)

	first, err := repo.Push(ctx, code.PushRequest{
		Ref:     code.DefaultBranch,
		Files:   map[string][]byte{"app.star": []byte("greeting = \"hello\"\n")},
		Author:  "ana@example.com",
		Message: "Say hello",
		Time:    when,
	})
	if err != nil {
		log.Fatal(err)
	}
	second, err := repo.Push(ctx, code.PushRequest{
		Ref:      code.DefaultBranch,
		Files:    map[string][]byte{"app.star": []byte("greeting = \"hi\"\n")},
		Expected: first.Commit,
		Author:   "ana@example.com",
		Message:  "Say hi",
		Time:     when.Add(time.Minute),
	})
	if err != nil {
		log.Fatal(err)
	}
	diffs, err := repo.Diff(ctx, first.Commit, second.Commit)
	if err != nil {
		log.Fatal(err)
	}
	for _, d := range diffs {
		fmt.Println(d.Status, d.Path)
	}
	history, err := repo.Log(ctx, second.Commit, 0)
	if err != nil {
		log.Fatal(err)
	}
	for _, c := range history {
		fmt.Println(c.Message)
	}
	// Output:
	// modified app.star
	// Say hi
	// Say hello
}
