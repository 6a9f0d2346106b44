package backup_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/starbase/starbase/backup"
)

// FuzzReader: any input is a whole backup or an error wrapping ErrDamaged or ErrFormat;
// never a panic; the entries of a backup accepted, written again by the Writer, are accepted.
func FuzzReader(f *testing.F) {
	f.Add(smallBackup(f))
	f.Add([]byte(backup.Magic))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := backup.NewReader(bytes.NewReader(b))
		if err != nil {
			if !errors.Is(err, backup.ErrDamaged) && !errors.Is(err, backup.ErrFormat) {
				t.Fatalf("NewReader: %v, neither ErrDamaged nor ErrFormat", err)
			}
			return
		}
		var entries []backup.Entry
		for {
			e, err := r.Next()
			if err != nil {
				if err == io.EOF {
					break
				}
				if !errors.Is(err, backup.ErrDamaged) {
					t.Fatalf("Next: %v, not ErrDamaged", err)
				}
				return
			}
			entries = append(entries, e)
		}
		// Accepted: the same header and entries written again give the same bytes.
		var out bytes.Buffer
		w, err := backup.NewWriter(&out, r.Header())
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if e.Sequence {
				err = w.Sequence(e.Name, e.Number)
			} else if e.Object {
				err = w.Object(e.Name, e.Value)
			} else {
				err = w.Key(e.Name, e.Value)
			}
			if err != nil {
				t.Fatalf("an accepted entry is refused by the Writer: %v", err)
			}
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if tr := r.Trailer(); int(tr.Keys+tr.Objects+tr.Sequences) != len(entries) {
			t.Fatalf("trailer %+v, %d entries", tr, len(entries))
		}
		if _, tr, err := backup.Check(&out); err != nil || tr.Keys != r.Trailer().Keys || tr.Objects != r.Trailer().Objects || tr.Sequences != r.Trailer().Sequences {
			t.Fatalf("the accepted backup written again: %+v, %v", tr, err)
		}
	})
}
