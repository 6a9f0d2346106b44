package code

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkCollect_DropsFourThousandBlobs measures one collection on bolt that drops 4
// commits of 1000 changed files each (4000 blobs, in one store commit of the sweep) and
// keeps the newest.
func BenchmarkCollect_DropsFourThousandBlobs(b *testing.B) {
	ctx := context.Background()
	for b.Loop() {
		b.StopTimer()
		st := openStore(b)
		r := NewRepo(st)
		var parent ID
		for v := range 5 {
			files := benchFiles(1000)
			for p := range files {
				files[p] = fmt.Appendf(files[p], "# version %d\n", v)
			}
			res, err := r.Push(ctx, PushRequest{Ref: DefaultBranch, Expected: parent, Files: files, Author: "bench", Time: testTime})
			if err != nil {
				b.Fatal(err)
			}
			parent = res.Commit
		}
		rev, err := st.Revision(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := st.Compact(ctx, rev); err != nil {
			b.Fatal(err)
		}
		c := &Collector{Repo: r, Retention: Retention{KeepCommits: 1}}
		b.StartTimer()
		col, err := c.Collect(ctx)
		if err != nil || col.Dropped != 4 || col.Blobs != 4000 {
			b.Fatalf("%+v, %v; want 4 commits and 4000 blobs dropped", col, err)
		}
	}
}
