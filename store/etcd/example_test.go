package etcd_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd"
)

// ExampleOpen connects to a three-member cluster under a prefix, moves a ref with
// compare-and-set and tells the outcomes apart. (It needs a running cluster, so it is
// compiled but not run.)
func ExampleOpen() {
	ctx := context.Background()
	s, err := etcd.Open(ctx, etcd.Config{
		Endpoints:      []string{"http://etcd-1:2379", "http://etcd-2:2379", "http://etcd-3:2379"},
		Prefix:         "/starbase/",
		RequestTimeout: 3 * time.Second,
	})
	if err != nil {
		log.Fatal(err) // wraps store.ErrUnavailable when no member answers
	}
	defer s.Close()

	ref, _, err := s.Get(ctx, "code/refs/main", 0)
	if err != nil {
		log.Fatal(err)
	}
	rev, err := s.Commit(ctx, []store.Compare{store.Unchanged("code/refs/main", ref)},
		[]store.Op{store.Put("code/refs/main", []byte("new commit id"))})
	switch {
	case errors.Is(err, store.ErrConflict):
		fmt.Println("someone else moved main first: read it again and retry")
	case errors.Is(err, store.ErrUnavailable):
		fmt.Println("cluster unavailable: answer 503; the move may or may not have happened")
	case err != nil:
		log.Fatal(err)
	default:
		fmt.Println("main moved at revision", rev)
	}
}
