package code

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestDiff_ListsChangedFilesSortedByPath(t *testing.T) {
	ctx := context.Background()
	r := newTestRepo(t)
	old := mustPush(t, r, "", map[string]string{"same": "s", "mod": "1", "gone": "g"}, "old")
	nu := mustPush(t, r, old.Commit, map[string]string{"same": "s", "mod": "2", "added": "a", "z/new": "n"}, "new")

	diffs, err := r.Diff(ctx, old.Commit, nu.Commit)
	if err != nil {
		t.Fatalf("Diff: %v", err)
	}

	h := func(s string) ID { return HashBlob([]byte(s)) }
	want := []FileDiff{
		{Path: "added", Status: Added, New: h("a")},
		{Path: "gone", Status: Removed, Old: h("g")},
		{Path: "mod", Status: Modified, Old: h("1"), New: h("2")},
		{Path: "z/new", Status: Added, New: h("n")},
	}
	if len(diffs) != len(want) {
		t.Fatalf("Diff = %+v, want %+v", diffs, want)
	}
	for i := range want {
		if diffs[i] != want[i] {
			t.Errorf("diff %d = %+v, want %+v", i, diffs[i], want[i])
		}
	}

	fromEmpty, err := r.Diff(ctx, "", old.Commit)
	if err != nil {
		t.Fatalf("Diff from the empty tree: %v", err)
	}
	if len(fromEmpty) != 3 || fromEmpty[0].Path != "gone" || fromEmpty[0].Status != Added {
		t.Errorf("Diff from the empty tree = %+v, want the three files added", fromEmpty)
	}
}

func TestUnifiedDiff_WritesGitStyleText(t *testing.T) {
	r := newTestRepo(t)
	old := mustPush(t, r, "", map[string]string{
		"a.star":   "x = 1\ny = 2\nz = 3\n",
		"b.txt":    "bye\n",
		"tail.txt": "last\n",
	}, "old")
	nu := mustPush(t, r, old.Commit, map[string]string{
		"a.star":   "x = 1\ny = 20\nz = 3\n",
		"c.txt":    "hi",
		"img.png":  "\x89PNG\x00\x01",
		"tail.txt": "last",
	}, "new")
	h := func(s string) string { return HashBlob([]byte(s)).Short() }

	var out bytes.Buffer
	if err := r.UnifiedDiff(context.Background(), old.Commit, nu.Commit, &out); err != nil {
		t.Fatalf("UnifiedDiff: %v", err)
	}

	want := "" +
		"diff --git a/a.star b/a.star\n" +
		"index " + h("x = 1\ny = 2\nz = 3\n") + ".." + h("x = 1\ny = 20\nz = 3\n") + "\n" +
		"--- a/a.star\n" +
		"+++ b/a.star\n" +
		"@@ -1,3 +1,3 @@\n" +
		" x = 1\n" +
		"-y = 2\n" +
		"+y = 20\n" +
		" z = 3\n" +
		"diff --git a/b.txt b/b.txt\n" +
		"deleted file mode 100644\n" +
		"index " + h("bye\n") + "..000000000000\n" +
		"--- a/b.txt\n" +
		"+++ /dev/null\n" +
		"@@ -1 +0,0 @@\n" +
		"-bye\n" +
		"diff --git a/c.txt b/c.txt\n" +
		"new file mode 100644\n" +
		"index 000000000000.." + h("hi") + "\n" +
		"--- /dev/null\n" +
		"+++ b/c.txt\n" +
		"@@ -0,0 +1 @@\n" +
		"+hi\n" +
		"\\ No newline at end of file\n" +
		"diff --git a/img.png b/img.png\n" +
		"new file mode 100644\n" +
		"index 000000000000.." + h("\x89PNG\x00\x01") + "\n" +
		"Binary files /dev/null and b/img.png differ\n" +
		"diff --git a/tail.txt b/tail.txt\n" +
		"index " + h("last\n") + ".." + h("last") + "\n" +
		"--- a/tail.txt\n" +
		"+++ b/tail.txt\n" +
		"@@ -1 +1 @@\n" +
		"-last\n" +
		"+last\n" +
		"\\ No newline at end of file\n"
	if out.String() != want {
		t.Errorf("UnifiedDiff:\n%s\nwant:\n%s", out.String(), want)
	}
}

// TestUnifiedDiff_AppliesWithGit checks the text against the reference implementation: the
// diff of two commits, applied by `git apply` to the first commit's files, gives the second's.
func TestUnifiedDiff_AppliesWithGit(t *testing.T) {
	git, err := exec.LookPath("git")
	if err != nil {
		t.Skip("git is not installed")
	}
	ctx := context.Background()
	r := newTestRepo(t)
	var long, longer strings.Builder
	for i := range 40 {
		long.WriteString(strings.Repeat("line ", i%5) + "\n")
		if i%13 == 0 {
			longer.WriteString("inserted\n")
		}
		if i%7 != 3 {
			longer.WriteString(strings.Repeat("line ", i%5) + "\n")
		}
	}
	oldFiles := map[string]string{"long.txt": long.String(), "gone.star": "x = 1\n", "dir/keep": "k\n", "nl": "a\nb"}
	newFiles := map[string]string{"long.txt": longer.String(), "dir/new.star": "y = 2\nz = 3\n", "dir/keep": "k\n", "nl": "a\nb\n"}
	old := mustPush(t, r, "", oldFiles, "old")
	nu := mustPush(t, r, old.Commit, newFiles, "new")
	var patch bytes.Buffer
	if err := r.UnifiedDiff(ctx, old.Commit, nu.Commit, &patch); err != nil {
		t.Fatalf("UnifiedDiff: %v", err)
	}
	dir := t.TempDir()
	for p, content := range oldFiles {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	cmd := exec.CommandContext(ctx, git, "apply", "-")
	cmd.Dir = dir
	cmd.Stdin = &patch
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git apply: %v\n%s\npatch:\n%s", err, out, patch.String())
	}

	for p, want := range newFiles {
		got, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(p)))
		if err != nil || string(got) != want {
			t.Errorf("after git apply, %s = %q, %v; want %q", p, got, err, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "gone.star")); !os.IsNotExist(err) {
		t.Errorf("gone.star still exists after git apply (stat: %v)", err)
	}
}

func TestUnifiedDiff_EmptyFileAddedHasOnlyAHeader(t *testing.T) {
	r := newTestRepo(t)
	res := mustPush(t, r, "", map[string]string{"empty": ""}, "add an empty file")

	var out bytes.Buffer
	if err := r.UnifiedDiff(context.Background(), "", res.Commit, &out); err != nil {
		t.Fatalf("UnifiedDiff: %v", err)
	}

	want := "diff --git a/empty b/empty\nnew file mode 100644\nindex 000000000000.." + HashBlob(nil).Short() + "\n"
	if out.String() != want {
		t.Errorf("UnifiedDiff = %q, want %q", out.String(), want)
	}
}
