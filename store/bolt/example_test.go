package bolt_test

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

func Example() {
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

	// Watch the refs from now on.
	watchCtx, stop := context.WithCancel(ctx)
	defer stop()
	events := s.Watch(watchCtx, "refs/", 0)

	// Create a ref only if it does not exist yet.
	rev, err := s.Commit(ctx, []store.Compare{store.Absent("refs/main")}, []store.Op{store.Put("refs/main", []byte("c1"))})
	if err != nil {
		log.Fatal(err)
	}

	// Move it only if nobody moved it since we read it.
	kv, _, err := s.Get(ctx, "refs/main", 0)
	if err != nil {
		log.Fatal(err)
	}
	if _, err := s.Commit(ctx, []store.Compare{store.Unchanged("refs/main", kv)}, []store.Op{store.Put("refs/main", []byte("c2"))}); err != nil {
		log.Fatal(err)
	}

	// The old value is still there at the old revision.
	old, _, err := s.Get(ctx, "refs/main", rev)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("at revision %d: %s\n", rev, old.Value)

	for range 2 {
		ev := <-events
		fmt.Printf("revision %d: %s = %s\n", ev.Revision, ev.Changes[0].Key, ev.Changes[0].Value)
	}
	// Output:
	// at revision 2: c1
	// revision 2: refs/main = c1
	// revision 3: refs/main = c2
}
