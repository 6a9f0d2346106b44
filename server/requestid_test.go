package server

import (
	"regexp"
	"sync"
	"testing"
)

func TestRequestIDs_AreUniqueAndDifferBetweenServers(t *testing.T) {
	a, b := newRequestIDs(), newRequestIDs()
	format := regexp.MustCompile(`^[0-9a-f]{16}-[0-9a-f]+$`)
	seen := map[string]bool{}
	var mu sync.Mutex // guards seen
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				id := a.next()
				mu.Lock()
				if seen[id] || !format.MatchString(id) {
					t.Errorf("id %q is repeated or not PREFIX-COUNTER in hex", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if a.prefix == b.prefix {
		t.Errorf("two servers share the id prefix %s", a.prefix)
	}
}
