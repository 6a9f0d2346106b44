package main

import (
	"bytes"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzTermWriter checks that whatever stored content the CLI prints, in whatever pieces,
// the terminal gets valid UTF-8 with no control character but newline and tab and no code
// point that hides or reorders text, and that plain text passes unchanged.
func FuzzTermWriter(f *testing.F) {
	f.Add([]byte("plain\n\ttext"), 3)
	f.Add([]byte("\x1b[2K\r\u202e\xff\u009b"), 1)
	f.Add([]byte("日本語\u200b"), 2)
	f.Fuzz(func(t *testing.T, in []byte, piece int) {
		if piece <= 0 {
			piece = 1
		}
		var out bytes.Buffer
		w := newTermWriter(&out)
		for rest := in; len(rest) > 0; {
			n := min(piece, len(rest))
			if k, err := w.Write(rest[:n]); k != n || err != nil {
				t.Fatalf("Write = %d, %v", k, err)
			}
			rest = rest[n:]
		}
		w.Flush()
		got := out.String()
		if !utf8.ValidString(got) {
			t.Fatalf("output %q is not UTF-8", got)
		}
		for _, r := range got {
			if r != '\n' && r != '\t' && (unicode.IsControl(r) || hidesText(r)) {
				t.Fatalf("output %q has %U", got, r)
			}
		}
		if got != termSafe(string(in)) {
			t.Fatalf("writing in pieces of %d gave %q, at once %q", piece, got, termSafe(string(in)))
		}
		clean := utf8.Valid(in) && !strings.ContainsFunc(string(in), func(r rune) bool {
			return r != '\n' && r != '\t' && (unicode.IsControl(r) || hidesText(r))
		})
		if clean && got != string(in) {
			t.Fatalf("clean text %q came out as %q", in, got)
		}
	})
}
