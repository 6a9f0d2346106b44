package starlark

import "testing"

// TestValueStack_PooledChunksAreCleared runs threads' worth of nested spaces, filled and
// freed, one after the other: every space handed out is zero, whether its chunk is new or
// was released by a previous stack, and a stack with a space in use keeps its chunk.
func TestValueStack_PooledChunksAreCleared(t *testing.T) {
	sizes := []int{3, 40, 100, 7, 300} // 300 does not fit a first chunk: it grows
	for round := range 50 {
		var s valueStack
		var spaces [][]Value
		for _, n := range sizes {
			space := s.alloc(n)
			if len(space) != n || cap(space) != n {
				t.Fatalf("round %d: alloc(%d) gave len %d, cap %d", round, n, len(space), cap(space))
			}
			for i, v := range space {
				if v != nil {
					t.Fatalf("round %d: alloc(%d)[%d] = %v, want a cleared space", round, n, i, v)
				}
				space[i] = MakeInt(round)
			}
			spaces = append(spaces, space)
		}
		held := s.chunk
		s.release() // a space is in use: the chunk stays
		if s.chunk == nil || &s.chunk[0] != &held[0] {
			t.Fatalf("round %d: release with spaces in use gave up the chunk", round)
		}
		for i := len(spaces) - 1; i >= 0; i-- {
			s.free(spaces[i])
		}
		if s.top != 0 {
			t.Fatalf("round %d: %d values still in use after freeing every space", round, s.top)
		}
		s.release()
		if s.chunk != nil {
			t.Fatalf("round %d: release after the last free kept the chunk", round)
		}
	}
}
