package code

import (
	"context"
	"fmt"
	"testing"
)

// benchFiles returns n files of about 1 KiB, like a mid-sized application.
func benchFiles(n int) map[string][]byte {
	files := make(map[string][]byte, n)
	for i := range n {
		files[fmt.Sprintf("pkg%02d/mod%04d.star", i%20, i)] = fmt.Appendf(nil, "x = %d\n%1000s\n", i, "")
	}
	return files
}

// BenchmarkPush_OneFileChangedOf1000 measures the common edit: one module of a 1000-file
// application changes.
func BenchmarkPush_OneFileChangedOf1000(b *testing.B) {
	ctx := context.Background()
	r := NewRepo(openStore(b))
	files := benchFiles(1000)
	res, err := r.Push(ctx, PushRequest{Ref: DefaultBranch, Files: files, Author: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		files["pkg00/mod0000.star"] = fmt.Appendf(nil, "x = %d\n", i)
		res, err = r.Push(ctx, PushRequest{Ref: DefaultBranch, Files: files, Expected: res.Commit, Author: "bench"})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTree_CachedLookup measures what a loader pays per request to find a module.
func BenchmarkTree_CachedLookup(b *testing.B) {
	ctx := context.Background()
	r := NewRepo(openStore(b))
	res, err := r.Push(ctx, PushRequest{Ref: DefaultBranch, Files: benchFiles(1000), Author: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	c, err := r.Commit(ctx, res.Commit)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		t, err := r.Tree(ctx, c.Tree)
		if err != nil {
			b.Fatal(err)
		}
		if t["pkg07/mod0007.star"] == "" {
			b.Fatal("module not found")
		}
	}
}
