package code

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

func TestValidatePath_AcceptsTreePathsAndExplainsRefusals(t *testing.T) {
	for _, p := range []string{"app.star", "lib/util.star", "templates/index.html", "static/a.b.css", "x..y"} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	for p, want := range map[string]string{
		"":                                "empty",
		"/etc/passwd":                     "absolute",
		"../x.star":                       `".." element`,
		"a/./b":                           `"." element`,
		"a//b":                            "empty element",
		"a\\b":                            "backslash",
		"a\x00b":                          "control character",
		".git/hooks/pre-commit":           `".git" starts with a dot`,
		"lib/.env":                        `".env" starts with a dot`,
		strings.Repeat("a", MaxPathLen+1): "the limit is 512",
	} {
		err := ValidatePath(p)
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath saying %q", p, err, want)
		}
	}
}

func TestValidatePath_RefusesNamesDangerousOnWindowsAndMacOS(t *testing.T) {
	for _, p := range []string{
		"lib/con-tract.star", "consoles.txt", "com10.txt", "lpt.txt", "a~b.txt", "x~1y.txt", "backup.txt~", "名前/ファイル.txt",
		"emoji-\u2764.txt", strings.Repeat("a", MaxElemLen) + "/b", "a.b.c", "x..y",
	} {
		if err := ValidatePath(p); err != nil {
			t.Errorf("ValidatePath(%q) = %v, want nil", p, err)
		}
	}
	for p, want := range map[string]string{
		"GIT~1/hooks/pre-commit":          "8.3 short name",
		"lib/PROGRA~12.txt":               "8.3 short name",
		"\u200c.git/hooks/pre-commit":     "U+200C, an invisible",
		"a/\ufeffgit":                     "U+FEFF",
		"a\u202eexe.txt":                  "U+202E",
		"a\u2067b":                        "U+2067",
		"con.txt":                         "Windows device name",
		"lib/CON":                         "Windows device name",
		"Nul.tar.gz":                      "Windows device name",
		"aux .txt":                        "Windows device name",
		"com1":                            "Windows device name",
		"LPT9.log":                        "Windows device name",
		"com\u00b9.txt":                   "Windows device name",
		"conout$":                         "Windows device name",
		"C:/x":                            `contains ':'`,
		"a/b:stream":                      `contains ':'`,
		"what?.txt":                       `contains '?'`,
		"a<b":                             `contains '<'`,
		`say"hi"`:                         `contains '"'`,
		"a|b":                             `contains '|'`,
		"star*":                           `contains '*'`,
		"trailing.":                       "ends with a dot or a space",
		"dir /x":                          "ends with a dot or a space",
		strings.Repeat("a", 256) + "/b":   "the limit for a name is 255",
		"a\x7fb":                          "control character",
		"a\u0085b":                        "control character",
		strings.Repeat("é", 128) + ".txt": "the limit for a name is 255",
	} {
		err := ValidatePath(p)
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidatePath(%q) = %v, want ErrInvalidPath saying %q", p, err, want)
		}
	}
}

func TestValidateTree_RefusesFileDirectoryAndCaseConflicts(t *testing.T) {
	ok := []string{"a/b", "a/c", "ab", "a.b", "b/a/b", "lib/x.star", "lib2/x.star"}
	if err := ValidateTree(ok); err != nil {
		t.Errorf("ValidateTree(%q) = %v, want nil", ok, err)
	}
	for _, tc := range []struct {
		paths []string
		want  []string // the reported paths and what each report says
	}{
		{[]string{"a", "a/b"}, []string{`"a": it is a file, and "a/b" needs it to be a directory`}},
		{[]string{"x/a", "x/a/b/c", "x/a/d"}, []string{`"x/a": it is a file, and "x/a/b/c" needs it to be a directory`}},
		{[]string{"README.md", "readme.md"}, []string{`"readme.md": it differs from "README.md" only in case`}},
		{[]string{"A", "a/b"}, []string{`"A": it is a file, and "a/b" needs it to be a directory`}},
		{[]string{"Lib/x.star", "lib/y.star"}, nil}, // one directory on macOS and Windows: no conflict
		{[]string{"caf\u00e9", "cafe\u0301"}, []string{"only in case or Unicode normalization"}},
		{[]string{"STRASSE", "straße"}, []string{"only in case"}},
		{[]string{"a/B", "a/b", "a/b/c"}, []string{`"a/B": it is a file`, `"a/b": it differs from "a/B"`}},
	} {
		err := ValidateTree(tc.paths)
		if tc.want == nil {
			if err != nil {
				t.Errorf("ValidateTree(%q) = %v, want nil", tc.paths, err)
			}
			continue
		}
		var perr *PathsError
		if !errors.As(err, &perr) || !errors.Is(err, ErrInvalidPath) || len(perr.Paths) != len(tc.want) {
			t.Errorf("ValidateTree(%q) = %v, want %d problem(s)", tc.paths, err, len(tc.want))
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("ValidateTree(%q) = %v, want it to say %q", tc.paths, err, w)
			}
		}
	}
}

func TestPush_RefusesUnportableTreesAndWritesNothing(t *testing.T) {
	for _, files := range []map[string]string{
		{"a": "1", "a/b": "2"},
		{"README": "1", "readme": "2"},
		{"GIT~1/hooks/post-checkout": "x"},
		{"\u200c.git/hooks/post-checkout": "x"},
		{"con.txt": "x"},
	} {
		st := openStore(t)
		r := NewRepo(st)
		before := revision(t, st)
		_, err := r.Push(context.Background(), PushRequest{Ref: DefaultBranch, Files: byteFiles(files), Author: "ana", Time: testTime})
		if !errors.Is(err, ErrInvalidPath) || !strings.Contains(err.Error(), "nothing was written") {
			t.Errorf("push %v = %v, want ErrInvalidPath and nothing written", files, err)
		}
		if after := revision(t, st); after != before {
			t.Errorf("push %v wrote: revision %d -> %d", files, before, after)
		}
	}
}

// FuzzValidatePathPortable checks that no input panics and that every accepted path keeps every
// promise of the rule, element by element.
func FuzzValidatePathPortable(f *testing.F) {
	for _, s := range []string{"app.star", "a/b/c.txt", "GIT~1/x", "\u200c.git/x", "con.txt", "C:/x", "a\u202eb", "x.", "a//b", "../x", "com\u00b9"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		err := ValidatePath(p)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("ValidatePath(%q) = %v, not ErrInvalidPath", p, err)
			}
			return
		}
		if validateShape(p) != nil || len(p) > MaxPathLen || !utf8.ValidString(p) {
			t.Fatalf("ValidatePath accepted %q, which is not well-formed", p)
		}
		for _, elem := range strings.Split(p, "/") {
			base, _, _ := strings.Cut(elem, ".")
			switch {
			case elem == "" || elem[0] == '.' || len(elem) > MaxElemLen:
				t.Fatalf("accepted %q: element %q", p, elem)
			case strings.ContainsAny(elem, "<>:\"|?*\\") || strings.ContainsFunc(elem, func(r rune) bool { return unicode.IsControl(r) || invisible(r) }):
				t.Fatalf("accepted %q: element %q has a forbidden character", p, elem)
			case strings.HasSuffix(elem, ".") || strings.HasSuffix(elem, " "):
				t.Fatalf("accepted %q: element %q ends with a dot or space", p, elem)
			case isDeviceName(strings.TrimRight(base, " ")):
				t.Fatalf("accepted %q: element %q is a device name", p, elem)
			case regexp.MustCompile(`~[0-9]+$`).MatchString(base):
				t.Fatalf("accepted %q: element %q is an 8.3 short name", p, elem)
			}
		}
		// An accepted path is a valid tree by itself, and its own directories do not clash.
		if err := ValidateTree([]string{p}); err != nil {
			t.Fatalf("ValidateTree([%q]) = %v", p, err)
		}
	})
}

// FuzzValidateTree checks ValidateTree against its definition on pairs of paths.
func FuzzValidateTree(f *testing.F) {
	f.Add("a", "a/b")
	f.Add("README", "readme")
	f.Add("A", "a/b")
	f.Add("x/y", "x/z")
	f.Fuzz(func(t *testing.T, p, q string) {
		if ValidatePath(p) != nil || ValidatePath(q) != nil || p == q {
			return
		}
		err := ValidateTree([]string{p, q})
		fold := func(s string) string { return norm.NFC.String(cases.Fold().String(norm.NFC.String(s))) }
		fp, fq := fold(p), fold(q)
		conflict := fp == fq || strings.HasPrefix(fq, fp+"/") || strings.HasPrefix(fp, fq+"/")
		if conflict != (err != nil) {
			t.Fatalf("ValidateTree(%q, %q) = %v, want conflict %v", p, q, err, conflict)
		}
	})
}
