package compile

// Tests of this repository's changes to go.starlark.net (FORK.md).

import (
	"math"
	"slices"
	"testing"
)

func TestInstructions_DecodeArgumentsAndJumpToIndices(t *testing.T) {
	code := []byte{
		byte(NOP),                 // 0
		byte(CONSTANT), 0xc8, 0x1, // 1: argument 200, two bytes of varint
		byte(JMP), 0, // 4: to address 0
		byte(CJMP), 4, // 6: to address 4
		byte(ITERJMP), 11, // 8: to address 11, the end
		byte(NOP), // 10: padding, as after a jump's operand
	}
	// The NOPs are left out: a jump to one goes to the instruction after it.
	want := []Insn{
		{Op: CONSTANT, Arg: 200, PC: 1},
		{Op: JMP, Arg: 0, PC: 4},
		{Op: CJMP, Arg: 1, PC: 6},
		{Op: ITERJMP, Arg: 4, PC: 8},
	}
	if got := (&Funcode{Code: code}).Instructions(); !slices.Equal(got, want) {
		t.Errorf("Instructions() = %v, want %v", got, want)
	}

	// Malformed code decodes without a panic: a jump into the middle of an instruction
	// goes out of range, and a truncated last argument drops its instruction.
	malformed := []byte{byte(JMP), 3, byte(CONSTANT), 0x80}
	want = []Insn{{Op: JMP, Arg: math.MaxUint32, PC: 0}}
	if got := (&Funcode{Code: malformed}).Instructions(); !slices.Equal(got, want) {
		t.Errorf("Instructions() of malformed code = %v, want %v", got, want)
	}
}
