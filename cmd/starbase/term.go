package main

import (
	"fmt"
	"io"
	"unicode/utf8"
)

// termWriter escapes, in everything the CLI prints, what a terminal would interpret rather
// than show: stored content (a diff, a commit message, a file or token name, an error the
// server sent back) must not be able to hide or rewrite lines in front of the person
// reviewing it. Newlines and tabs pass; every other control character (ESC starting an
// escape sequence, CR returning to the line's start, backspace, the C1 controls such as
// U+009B CSI, DEL) is written as \xNN or \uNNNN, and so are the code points that reorder
// or hide text (bidi overrides and isolates, zero-width and direction marks) and bytes
// that are not UTF-8. Everything else is written as is; a backslash is not escaped, so a
// text can contain "\x1b" literally, which shows as such and hides nothing.
//
// A rune split across two writes is held until the next write or Flush.
type termWriter struct {
	w       io.Writer
	pending []byte // an incomplete UTF-8 sequence at the end of the last write
	out     []byte
}

func newTermWriter(w io.Writer) *termWriter { return &termWriter{w: w} }

func (t *termWriter) Write(p []byte) (int, error) {
	b := append(t.pending, p...)
	t.pending = nil
	// Hold back a trailing incomplete rune (at most 3 bytes).
	for i := 1; i <= 3 && i <= len(b); i++ {
		if utf8.RuneStart(b[len(b)-i]) {
			if !utf8.FullRune(b[len(b)-i:]) {
				t.pending = append([]byte(nil), b[len(b)-i:]...)
				b = b[:len(b)-i]
			}
			break
		}
	}
	t.out = appendTermSafe(t.out[:0], b)
	if _, err := t.w.Write(t.out); err != nil {
		return 0, err
	}
	return len(p), nil
}

// Flush writes a held incomplete rune, escaped.
func (t *termWriter) Flush() error {
	if len(t.pending) == 0 {
		return nil
	}
	b := t.pending
	t.pending = nil
	_, err := t.w.Write(appendTermSafe(nil, b))
	return err
}

// termSafe returns s escaped as termWriter does.
func termSafe(s string) string { return string(appendTermSafe(nil, []byte(s))) }

func appendTermSafe(dst, b []byte) []byte {
	for len(b) > 0 {
		r, size := utf8.DecodeRune(b)
		switch {
		case r == utf8.RuneError && size <= 1:
			dst = fmt.Appendf(dst, `\x%02x`, b[0])
		case r == '\n' || r == '\t':
			dst = append(dst, byte(r))
		case r < 0x20 || r == 0x7f:
			dst = fmt.Appendf(dst, `\x%02x`, r)
		case r >= 0x80 && r < 0xa0, hidesText(r):
			dst = fmt.Appendf(dst, `\u%04x`, r)
		default:
			dst = append(dst, b[:size]...)
		}
		b = b[size:]
	}
	return dst
}

// hidesText reports whether r reorders or hides text on display: the bidi embeddings,
// overrides and isolates (U+202A-U+202E, U+2066-U+2069), the direction marks (U+200E,
// U+200F, U+061C), the zero-width characters (U+200B-U+200D, U+2060, U+FEFF) and the line
// and paragraph separators (U+2028, U+2029).
func hidesText(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x2069,
		r == 0x2028, r == 0x2029, r == 0x2060, r == 0xFEFF, r == 0x061C:
		return true
	}
	return false
}
