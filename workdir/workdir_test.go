package workdir_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starbase/starbase/workdir"
)

func write(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, c := range files {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRead_SkipsDotfilesAndRefusesSymlinks(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"app.star": "a", "lib/x.star": "x", ".env": "secret", ".git/config": "g", "lib/.swp": "s"})
	files, err := workdir.Read(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || string(files["app.star"]) != "a" || string(files["lib/x.star"]) != "x" {
		t.Fatalf("Read = %v, want only app.star and lib/x.star", files)
	}
	if err := os.Symlink("/etc/passwd", filepath.Join(dir, "link.txt")); err != nil {
		t.Fatal(err)
	}
	if _, err := workdir.Read(dir); err == nil || !strings.Contains(err.Error(), "link.txt") {
		t.Fatalf("Read with a symlink = %v, want an error naming link.txt", err)
	}
}

func TestApply_RefusesToOverwriteLocalChanges(t *testing.T) {
	dir := t.TempDir()
	if err := workdir.Apply(dir, workdir.State{}, "c1", map[string][]byte{"a.star": []byte("1"), "b.star": []byte("1")}, false); err != nil {
		t.Fatal(err)
	}
	st, err := workdir.LoadState(dir)
	if err != nil || st.Commit != "c1" || len(st.Files) != 2 {
		t.Fatalf("state after pull = %+v, %v", st, err)
	}
	write(t, dir, map[string]string{"a.star": "local edit", "untracked.star": "mine"})

	next := map[string][]byte{"a.star": []byte("2"), "untracked.star": []byte("theirs")}
	err = workdir.Apply(dir, st, "c2", next, false)
	if !errors.Is(err, workdir.ErrLocalChanges) || !strings.Contains(err.Error(), "a.star, untracked.star") {
		t.Fatalf("Apply over local edits = %v, want ErrLocalChanges naming a.star and untracked.star", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.star")); string(b) != "local edit" {
		t.Fatalf("a refused Apply changed a.star to %q", b)
	}
	if _, err := os.Stat(filepath.Join(dir, "b.star")); err != nil {
		t.Fatalf("a refused Apply removed b.star: %v", err)
	}
}

func TestApply_RemovesOnlyFilesOfThePreviousPull(t *testing.T) {
	dir := t.TempDir()
	if err := workdir.Apply(dir, workdir.State{}, "c1", map[string][]byte{"a.star": []byte("1"), "old.star": []byte("1")}, false); err != nil {
		t.Fatal(err)
	}
	write(t, dir, map[string]string{"notes.txt": "my own file"})
	st, _ := workdir.LoadState(dir)
	if err := workdir.Apply(dir, st, "c2", map[string][]byte{"a.star": []byte("2")}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "old.star")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("old.star, gone from the new commit, is still there (%v)", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "notes.txt")); err != nil || string(b) != "my own file" {
		t.Errorf("notes.txt, never pulled, = %q %v; it must be left alone", b, err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.star")); string(b) != "2" {
		t.Errorf("a.star = %q, want 2", b)
	}
}

func TestApply_ForceOverwrites(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{"a.star": "mine"})
	if err := workdir.Apply(dir, workdir.State{}, "c1", map[string][]byte{"a.star": []byte("theirs")}, true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a.star")); string(b) != "theirs" {
		t.Fatalf("a.star = %q after a forced pull, want theirs", b)
	}
}

func TestLoadState_CorruptStateSaysHowToRecover(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, map[string]string{workdir.StateFile: "{not json"})
	if _, err := workdir.LoadState(dir); err == nil || !strings.Contains(err.Error(), "pull again") {
		t.Fatalf("LoadState of a corrupt file = %v, want advice to pull again", err)
	}
}

func TestApply_RefusesHostilePathsBeforeWritingAnything(t *testing.T) {
	for _, bad := range []string{"../outside.txt", ".git/hooks/pre-commit", "/etc/x"} {
		dir := t.TempDir()
		files := map[string][]byte{"a.star": []byte("1"), bad: []byte("pwned")}
		err := workdir.Apply(dir, workdir.State{}, "c1", files, true)
		if err == nil || !strings.Contains(err.Error(), "refusing to pull") {
			t.Fatalf("Apply with %q = %v, want a refusal", bad, err)
		}
		if _, err := os.Stat(filepath.Join(dir, "a.star")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a refused pull (%q) wrote a.star", bad)
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "outside.txt")); err == nil {
			t.Fatal("a pull wrote outside its directory")
		}
	}
}
