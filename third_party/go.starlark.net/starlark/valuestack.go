// Copyright 2026 The Bazel Authors. All rights reserved.
// Use of this source code is governed by a BSD-style
// license that can be found in the LICENSE file.

package starlark

// A valueStack hands out the space (locals and operand stack) of a thread's
// calls of Starlark functions. Calls on a thread nest, so their spaces are
// freed in the reverse order of their allocation, and a stack of values
// serves them without a heap allocation per call.
//
// The stack is a chunk of Values that fills from its start. When the next
// space does not fit, a chunk twice as large replaces it; the spaces already
// taken stay in the old chunk, which the garbage collector reclaims once
// their calls return. A space is cleared when it is freed, so that the
// chunk holds no value a call has finished with.
type valueStack struct {
	chunk []Value
	top   int // chunk[:top] is in use
}

// minValueChunk is the size of a thread's first chunk, in Values: a few
// frames of small functions.
const minValueChunk = 128

// alloc returns n zero Values, a space whose capacity is n.
func (s *valueStack) alloc(n int) []Value {
	if s.top+n > len(s.chunk) {
		s.chunk = make([]Value, max(2*len(s.chunk), n, minValueChunk))
		s.top = 0
	}
	space := s.chunk[s.top : s.top+n : s.top+n]
	s.top += n
	return space
}

// free clears space, the last one alloc returned that is not yet freed, and
// returns it to the stack if it is in the current chunk.
func (s *valueStack) free(space []Value) {
	clear(space)
	if n := len(space); n > 0 && s.top >= n && &s.chunk[s.top-n] == &space[0] {
		s.top -= n
	}
}
