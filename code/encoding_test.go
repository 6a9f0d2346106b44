package code

import (
	"errors"
	"path"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// Two well-formed ids for building objects by hand.
var (
	idA = HashBlob([]byte("a"))
	idB = HashBlob([]byte("b"))
)

func TestEncodeTree_IsCanonicalAndRoundTrips(t *testing.T) {
	tree := Tree{"z.star": idA, "a/b.html": idB, "app.star": idA}
	data, id, err := EncodeTree(tree)
	if err != nil {
		t.Fatalf("EncodeTree: %v", err)
	}
	want := `{"files":{"a/b.html":"` + string(idB) + `","app.star":"` + string(idA) + `","z.star":"` + string(idA) + `"}}`
	if string(data) != want {
		t.Errorf("encoding:\n got %s\nwant %s", data, want)
	}
	if id != HashBlob(data) {
		t.Errorf("id = %s, want the SHA-256 of the encoding %s", id, HashBlob(data))
	}
	got, err := DecodeTree(id, data)
	if err != nil {
		t.Fatalf("DecodeTree: %v", err)
	}
	if len(got) != len(tree) {
		t.Fatalf("decoded %d files, want %d", len(got), len(tree))
	}
	for p, blob := range tree {
		if got[p] != blob {
			t.Errorf("file %q = %s, want %s", p, got[p], blob)
		}
	}
}

func TestEncodeTree_EmptyTree(t *testing.T) {
	data, id, err := EncodeTree(nil)
	if err != nil {
		t.Fatalf("EncodeTree(nil): %v", err)
	}
	if string(data) != `{"files":{}}` {
		t.Errorf("encoding = %s, want {\"files\":{}}", data)
	}
	if _, err := DecodeTree(id, data); err != nil {
		t.Errorf("DecodeTree of the empty tree: %v", err)
	}
}

func TestEncodeTree_RejectsBadPathsAndIDs(t *testing.T) {
	if _, _, err := EncodeTree(Tree{"../x": idA}); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("bad path: err = %v, want ErrInvalidPath", err)
	}
	if _, _, err := EncodeTree(Tree{"x": "abc"}); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad id: err = %v, want ErrInvalidID", err)
	}
}

func TestDecodeTree_RejectsAnythingButTheCanonicalEncoding(t *testing.T) {
	a := string(idA)
	cases := map[string]string{
		"unknown field":       `{"files":{},"mode":1}`,
		"bad blob id":         `{"files":{"x":"abc"}}`,
		"uppercase blob id":   `{"files":{"x":"` + strings.ToUpper(a) + `"}}`,
		"invalid path":        `{"files":{"../x":"` + a + `"}}`,
		"absolute path":       `{"files":{"/x":"` + a + `"}}`,
		"whitespace":          `{"files": {}}`,
		"unsorted keys":       `{"files":{"b":"` + a + `","a":"` + a + `"}}`,
		"duplicate key":       `{"files":{"a":"` + a + `","a":"` + a + `"}}`,
		"null files":          `{"files":null}`,
		"missing files":       `{}`,
		"trailing data":       `{"files":{}} {}`,
		"not an object":       `[]`,
		"not JSON":            `files`,
		"field case mismatch": `{"Files":{}}`,
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeTree(HashBlob([]byte(data)), []byte(data))
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeTree(%s): err = %v, want ErrCorrupt", data, err)
			}
		})
	}
}

func TestDecodeTree_RejectsContentThatDoesNotMatchItsID(t *testing.T) {
	data, _, err := EncodeTree(Tree{"a": idA})
	if err != nil {
		t.Fatal(err)
	}
	_, err = DecodeTree(idB, data)
	if !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), "hashes to") {
		t.Errorf("err = %v, want ErrCorrupt saying what the content hashes to", err)
	}
}

func testCommit() Commit {
	return Commit{
		Tree:    idA,
		Parents: []ID{idB},
		Author:  "ana@example.com",
		Message: "Add <invoices> & totals\n\nLonger text.",
		Time:    time.Date(2026, 3, 1, 12, 30, 0, 123, time.FixedZone("CET", 3600)),
		Notes:   []string{"no-tests"},
	}
}

func TestEncodeCommit_IsCanonicalAndRoundTrips(t *testing.T) {
	c := testCommit()
	data, id, err := EncodeCommit(c)
	if err != nil {
		t.Fatalf("EncodeCommit: %v", err)
	}
	want := `{"tree":"` + string(idA) + `","parents":["` + string(idB) + `"],"author":"ana@example.com",` +
		`"message":"Add \u003cinvoices\u003e \u0026 totals\n\nLonger text.",` +
		`"time":"2026-03-01T11:30:00.000000123Z","notes":["no-tests"]}`
	if string(data) != want {
		t.Errorf("encoding:\n got %s\nwant %s", data, want)
	}
	got, err := DecodeCommit(id, data)
	if err != nil {
		t.Fatalf("DecodeCommit: %v", err)
	}
	if got.ID != id || got.Tree != c.Tree || len(got.Parents) != 1 || got.Parents[0] != idB ||
		got.Author != c.Author || got.Message != c.Message || !got.Time.Equal(c.Time) ||
		len(got.Notes) != 1 || got.Notes[0] != "no-tests" {
		t.Errorf("decoded %+v, want %+v with ID %s", got, c, id)
	}
}

func TestEncodeCommit_SameCommitInAnyTimeZoneHasOneID(t *testing.T) {
	c := testCommit()
	_, id1, err := EncodeCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	c.Time = c.Time.UTC()
	_, id2, err := EncodeCommit(c)
	if err != nil {
		t.Fatal(err)
	}
	if id1 != id2 {
		t.Errorf("ids differ by time zone: %s and %s", id1, id2)
	}
}

func TestEncodeCommit_RejectsWhatJSONCannotStoreFaithfully(t *testing.T) {
	c := testCommit()
	c.Message = "bad \xff byte"
	if _, _, err := EncodeCommit(c); !errors.Is(err, ErrInvalidRequest) {
		t.Errorf("invalid UTF-8: err = %v, want ErrInvalidRequest", err)
	}
	c = testCommit()
	c.Parents = []ID{"nope"}
	if _, _, err := EncodeCommit(c); !errors.Is(err, ErrInvalidID) {
		t.Errorf("bad parent: err = %v, want ErrInvalidID", err)
	}
}

func TestDecodeCommit_RejectsAnythingButTheCanonicalEncoding(t *testing.T) {
	a, b := string(idA), string(idB)
	valid := `{"tree":"` + a + `","author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`
	if _, err := DecodeCommit(HashBlob([]byte(valid)), []byte(valid)); err != nil {
		t.Fatalf("the valid base case fails: %v", err)
	}
	cases := map[string]string{
		"unknown field":      `{"tree":"` + a + `","author":"x","message":"m","time":"2026-01-01T00:00:00Z","sig":"z"}`,
		"bad tree id":        `{"tree":"abc","author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"bad parent id":      `{"tree":"` + a + `","parents":["` + b + `x"],"author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"empty parents list": `{"tree":"` + a + `","parents":[],"author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"non-UTC time":       `{"tree":"` + a + `","author":"x","message":"m","time":"2026-01-01T01:00:00+01:00"}`,
		"reordered fields":   `{"author":"x","tree":"` + a + `","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"whitespace":         `{"tree":"` + a + `", "author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"bad time":           `{"tree":"` + a + `","author":"x","message":"m","time":"yesterday"}`,
		"the ID field":       `{"ID":"` + a + `","tree":"` + a + `","author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`,
		"trailing data":      valid + "\n",
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeCommit(HashBlob([]byte(data)), []byte(data))
			if !errors.Is(err, ErrCorrupt) {
				t.Errorf("DecodeCommit(%s): err = %v, want ErrCorrupt", data, err)
			}
		})
	}
	if _, err := DecodeCommit(idA, []byte(valid)); !errors.Is(err, ErrCorrupt) {
		t.Errorf("content with another id: err = %v, want ErrCorrupt", err)
	}
}

func TestValidateRefName(t *testing.T) {
	for _, name := range []string{"main", "canary", "v1.2", "users/ana/draft", "a_b-c"} {
		if err := ValidateRefName(name); err != nil {
			t.Errorf("ValidateRefName(%q) = %v, want nil", name, err)
		}
	}
	for _, name := range []string{"", "/main", "main/", "a//b", ".hidden", "-x", "a/../b", "sp ace",
		"tab\t", "é", strings.Repeat("a", MaxRefLen+1)} {
		if err := ValidateRefName(name); !errors.Is(err, ErrInvalidRef) {
			t.Errorf("ValidateRefName(%q) = %v, want ErrInvalidRef", name, err)
		}
	}
}

func TestValidateID(t *testing.T) {
	if err := ValidateID(idA); err != nil {
		t.Errorf("ValidateID(%s) = %v, want nil", idA, err)
	}
	for _, id := range []ID{"", "abc", ID(strings.ToUpper(string(idA))), idA + "0", idA[:63] + "g"} {
		if err := ValidateID(id); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ValidateID(%q) = %v, want ErrInvalidID", id, err)
		}
	}
}

func FuzzDecodeTree(f *testing.F) {
	for _, tree := range []Tree{nil, {"a": idA}, {"app.star": idA, "templates/x.html": idB, "ü/ß": idA}} {
		data, _, err := EncodeTree(tree)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"files":{"../x":"` + string(idA) + `"}}`))
	f.Add([]byte(`{"files":{"a":"` + string(idA) + `","a":"` + string(idA) + `"}}`))
	f.Add([]byte(`{"files":{},"x":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id := HashBlob(data)
		tree, err := DecodeTree(id, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeTree error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		// Whatever decodes is valid and is the one encoding of its value.
		again, againID, err := EncodeTree(tree)
		if err != nil {
			t.Fatalf("a decoded tree does not encode: %v", err)
		}
		if string(again) != string(data) || againID != id {
			t.Fatalf("re-encoding differs:\n got %q\nwant %q", again, data)
		}
	})
}

func FuzzDecodeCommit(f *testing.F) {
	seed := testCommit()
	data, _, err := EncodeCommit(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	seed.Parents, seed.Notes, seed.Time = nil, nil, time.Time{}
	data, _, err = EncodeCommit(seed)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(data)
	f.Add([]byte(`{"tree":"` + string(idA) + `","parents":[],"author":"x","message":"m","time":"2026-01-01T00:00:00Z"}`))
	f.Add([]byte(`{"tree":"` + string(idA) + `","author":"x","message":"m","time":"2026-01-01T01:00:00+01:00"}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		id := HashBlob(data)
		c, err := DecodeCommit(id, data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("DecodeCommit error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if c.ID != id {
			t.Fatalf("decoded commit has ID %s, want %s", c.ID, id)
		}
		again, againID, err := EncodeCommit(c)
		if err != nil {
			t.Fatalf("a decoded commit does not encode: %v", err)
		}
		if string(again) != string(data) || againID != id {
			t.Fatalf("re-encoding differs:\n got %q\nwant %q", again, data)
		}
	})
}

func FuzzValidatePath(f *testing.F) {
	for _, p := range []string{"app.star", "a/b/c.html", "", "..", "../x", "/abs", "a//b", "a/",
		"a\\b", "a\x00b", "tab\tname", "\xff", "ü/ß.star", "./x", "x/.", strings.Repeat("a", MaxPathLen+1)} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			var pe *PathError
			if !errors.As(err, &pe) || pe.Path != p || !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ValidatePath(%q) = %v, want a *PathError for it wrapping ErrInvalidPath", p, err)
			}
			return
		}
		switch {
		case len(p) > MaxPathLen:
			t.Fatalf("accepted %q: longer than %d bytes", p, MaxPathLen)
		case !utf8.ValidString(p):
			t.Fatalf("accepted %q: not UTF-8", p)
		case path.Clean(p) != p || path.IsAbs(p) || p == "." || strings.HasPrefix(p, "../"):
			t.Fatalf("accepted %q: not a clean relative path", p)
		case strings.ContainsFunc(p, unicode.IsControl) || strings.Contains(p, `\`):
			t.Fatalf("accepted %q: control character or backslash", p)
		}
		// An accepted path survives storage in a tree.
		data, id, err := EncodeTree(Tree{p: idA})
		if err != nil {
			t.Fatalf("EncodeTree with accepted path %q: %v", p, err)
		}
		tree, err := DecodeTree(id, data)
		if err != nil || tree[p] != idA {
			t.Fatalf("DecodeTree lost accepted path %q: %v", p, err)
		}
	})
}
