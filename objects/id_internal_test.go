package objects

import (
	"sync"
	"testing"
)

// TestNewID_IncreasesWithinANode: ids made one after the other, many in one millisecond,
// from several goroutines, sort in the order they were made, and each is a valid id.
func TestNewID_IncreasesWithinANode(t *testing.T) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			prev := newID()
			for range 20000 {
				id := newID()
				if id <= prev {
					t.Errorf("id %s made after %s does not sort after it", id, prev)
					return
				}
				if err := checkID(id); err != nil {
					t.Errorf("newID made an invalid id: %v", err)
					return
				}
				prev = id
			}
		}()
	}
	wg.Wait()
}
