// Copyright 2026 The Bazel Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package starlark

import "sync"

// A valueStack hands out the space (locals and operand stack) of a thread's
// calls of Starlark functions. Calls on a thread nest, so their spaces are
// freed in the reverse order of their allocation, and a stack of values
// serves them without a heap allocation per call.
//
// The stack is a chunk of Values that fills from its start. When the next
// space does not fit, a chunk twice as large replaces it; the spaces already
// taken stay in the old chunk, which the garbage collector reclaims once
// their calls return. A space is cleared when it is freed, so that the
// chunk holds no value a call has finished with. When the thread's
// outermost call returns, its chunk, all cleared, goes to a pool that the
// next thread takes its first chunk from.
type valueStack struct {
	chunk []Value
	top   int         // chunk[:top] is in use
	box   *valueChunk // holds chunk in the pool
}

// A valueChunk is a chunk in valueChunks.
type valueChunk struct{ values []Value }

// valueChunks holds cleared chunks of at most maxPooledValueChunk Values.
var valueChunks sync.Pool

const (
	// minValueChunk is the size of a thread's first chunk, in Values: a few
	// frames of small functions.
	minValueChunk = 128
	// maxPooledValueChunk is the size of the largest chunk kept for other
	// threads: a deep recursion's chunks are left to the garbage collector.
	maxPooledValueChunk = 4096
)

// alloc returns n zero Values, a space whose capacity is n.
func (s *valueStack) alloc(n int) []Value {
	if s.top+n > len(s.chunk) {
		s.grow(n)
	}
	space := s.chunk[s.top : s.top+n : s.top+n]
	s.top += n
	return space
}

// grow replaces the chunk with one that holds n more Values: from the pool
// for a thread's first chunk, if large enough, or else a new one.
func (s *valueStack) grow(n int) {
	if s.chunk == nil {
		if box, ok := valueChunks.Get().(*valueChunk); ok {
			if len(box.values) >= n {
				s.chunk, s.top, s.box = box.values, 0, box
				return
			}
			valueChunks.Put(box)
		}
	}
	s.chunk = make([]Value, max(2*len(s.chunk), n, minValueChunk))
	s.top, s.box = 0, nil
}

// free clears space, the last one alloc returned that is not yet freed, and
// returns it to the stack if it is in the current chunk.
func (s *valueStack) free(space []Value) {
	clear(space)
	if n := len(space); n > 0 && s.top >= n && &s.chunk[s.top-n] == &space[0] {
		s.top -= n
	}
}

// release gives the chunk to the pool, once the thread's calls have all
// returned (so every space is free, and cleared).
func (s *valueStack) release() {
	if s.top != 0 || s.chunk == nil {
		return
	}
	if len(s.chunk) <= maxPooledValueChunk {
		if s.box == nil {
			s.box = &valueChunk{values: s.chunk}
		}
		valueChunks.Put(s.box)
	}
	s.chunk, s.box = nil, nil
}
