package workdir

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// snapshot returns every entry under dir (dotfiles included): directories as "dir", files
// as their content.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if e.IsDir() {
			out[rel] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		out[rel] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func bytesOf(files map[string]string) map[string][]byte {
	out := map[string][]byte{}
	for p, c := range files {
		out[p] = []byte(c)
	}
	return out
}

// failingRename makes the n-th rename (from 0) fail, and counts them.
func failingRename(t *testing.T, n int) *int {
	count := new(int)
	rename = func(from, to string) error {
		defer func() { *count++ }()
		if *count == n {
			return fmt.Errorf("injected failure of rename %d", n)
		}
		return os.Rename(from, to)
	}
	t.Cleanup(func() { rename = os.Rename })
	return count
}

// A pull that fails at any of its steps leaves the directory exactly as it was: every
// file, directory, dotfile and the state.
func TestApply_FailingAtAnyStepChangesNothing(t *testing.T) {
	first := map[string]string{
		"keep.star": "same", "edit.star": "v1", "gone.star": "bye",
		"a/b.star": "a was a directory", "x": "x was a file", "deep/old/file.star": "old",
	}
	next := map[string]string{
		"keep.star": "same", "edit.star": "v2", "new/dir/n.star": "new",
		"a": "a is a file", "x/y.star": "x is a directory", "deep/new.star": "n",
	}
	for n := 0; ; n++ {
		dir := filepath.Join(t.TempDir(), "app")
		if err := Apply(dir, State{}, "c1", bytesOf(first), false); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "mine.txt"), []byte("untracked"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
			t.Fatal(err)
		}
		prev, err := LoadState(dir)
		if err != nil {
			t.Fatal(err)
		}
		before := snapshot(t, dir)
		count := failingRename(t, n)
		err = Apply(dir, prev, "c2", bytesOf(next), false)
		rename = os.Rename
		if err == nil {
			if n != *count {
				t.Fatalf("Apply succeeded with rename %d failing (it made %d)", n, *count)
			}
			got := snapshot(t, dir)
			for p, c := range next {
				if got[filepath.FromSlash(p)] != c {
					t.Errorf("after the pull %s = %q, want %q", p, got[p], c)
				}
			}
			for _, p := range []string{"gone.star", "a/b.star", "deep/old/file.star"} {
				if _, ok := got[filepath.FromSlash(p)]; ok {
					t.Errorf("after the pull %s is still there", p)
				}
			}
			if got["mine.txt"] != "untracked" || got[".git"] != "dir" {
				t.Errorf("the pull touched the developer's own files: %v", got)
			}
			if st, _ := LoadState(dir); st.Commit != "c2" {
				t.Errorf("state commit = %q, want c2", st.Commit)
			}
			if n < 5 {
				t.Fatalf("the pull made only %d renames", n)
			}
			return
		}
		if !strings.Contains(err.Error(), "every change was undone") || !strings.Contains(err.Error(), "injected failure") {
			t.Fatalf("Apply failing at rename %d = %v, want the failure and that it was undone", n, err)
		}
		if after := snapshot(t, dir); !maps.Equal(before, after) {
			t.Fatalf("Apply failing at rename %d changed the directory:\nbefore %v\nafter  %v", n, before, after)
		}
	}
}

func TestApply_IntoANewDirectoryIsOneRename(t *testing.T) {
	parent := t.TempDir()
	dir := filepath.Join(parent, "app")
	failingRename(t, 0)
	if err := Apply(dir, State{}, "c1", bytesOf(map[string]string{"a/b.star": "1"}), false); err == nil {
		t.Fatal("Apply succeeded with its rename failing")
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 0 {
		t.Fatalf("a failed pull into a new directory left %v", entries)
	}
	rename = os.Rename
	if err := Apply(dir, State{}, "c1", bytesOf(map[string]string{"a/b.star": "1"}), false); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, dir); got[filepath.FromSlash("a/b.star")] != "1" || got[filepath.FromSlash(StateFile)] == "" {
		t.Fatalf("pulled directory = %v", got)
	}
	if entries, _ := os.ReadDir(parent); len(entries) != 1 {
		t.Fatalf("the pull left %v next to the directory", entries)
	}
}

func TestApply_RefusesWhatIsInTheWayAndChangesNothing(t *testing.T) {
	for name, tc := range map[string]struct {
		local map[string]string // written after the first pull, untracked
		next  map[string]string
		want  string
	}{
		"a local file where a directory is needed": {map[string]string{"lib": "mine"}, map[string]string{"lib/x.star": "1"}, "lib is a file here, and the commit's lib/x.star needs it to be a directory"},
		"a local directory where a file is needed": {map[string]string{"docs/notes.txt": "mine"}, map[string]string{"docs": "1"}, "docs is a directory here holding docs/notes.txt"},
		"a dotfile in the way":                     {map[string]string{"t/.keep": ""}, map[string]string{"t": "1"}, "t is a directory here holding t/.keep"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "app")
			if err := Apply(dir, State{}, "c1", bytesOf(map[string]string{"app.star": "1"}), false); err != nil {
				t.Fatal(err)
			}
			for p, c := range tc.local {
				full := filepath.Join(dir, filepath.FromSlash(p))
				os.MkdirAll(filepath.Dir(full), 0o755)
				if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			prev, _ := LoadState(dir)
			before := snapshot(t, dir)
			for _, force := range []bool{false, true} {
				err := Apply(dir, prev, "c2", bytesOf(tc.next), force)
				if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "nothing was changed") {
					t.Fatalf("Apply (force %v) = %v, want ErrConflict saying %q", force, err, tc.want)
				}
				if after := snapshot(t, dir); !maps.Equal(before, after) {
					t.Fatalf("a refused pull changed the directory:\nbefore %v\nafter  %v", before, after)
				}
			}
		})
	}
}

func TestApply_RefusesTreesNoFileSystemCanHold(t *testing.T) {
	for _, files := range []map[string]string{
		{"a": "1", "a/b": "2"},
		{"README": "1", "readme": "2"},
		{"GIT~1/hooks/post-checkout": "x"},
		{"\u200c.git/hooks/post-checkout": "x"},
		{"con.txt": "x"},
		{"a\u202etxt.exe": "x"},
	} {
		parent := t.TempDir()
		err := Apply(filepath.Join(parent, "app"), State{}, "c1", bytesOf(files), true)
		if !errors.Is(err, os.ErrInvalid) && (err == nil || !strings.Contains(err.Error(), "refusing to pull, nothing was changed")) {
			t.Errorf("Apply(%q) = %v, want a refusal", files, err)
		}
		if entries, _ := os.ReadDir(parent); len(entries) != 0 {
			t.Errorf("a refused pull of %q wrote %v", files, entries)
		}
	}
}
