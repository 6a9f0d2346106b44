package code

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/pmezard/go-difflib/difflib"
)

// DiffStatus says how a file changed between two trees.
type DiffStatus string

// Diff statuses.
const (
	Added    DiffStatus = "added"
	Removed  DiffStatus = "removed"
	Modified DiffStatus = "modified"
)

// FileDiff is one file that differs between two trees.
type FileDiff struct {
	Path   string
	Status DiffStatus
	// Old is the file's blob in the old tree ("" when Added); New in the new tree ("" when
	// Removed).
	Old, New ID
}

// DiffTrees returns the files that differ from a to b, sorted by path. Comparing blob ids
// is enough: equal content has equal ids.
func DiffTrees(a, b Tree) []FileDiff {
	var diffs []FileDiff
	for _, p := range a.Paths() {
		old := a[p]
		switch nu, ok := b[p]; {
		case !ok:
			diffs = append(diffs, FileDiff{Path: p, Status: Removed, Old: old})
		case nu != old:
			diffs = append(diffs, FileDiff{Path: p, Status: Modified, Old: old, New: nu})
		}
	}
	for p, nu := range b {
		if _, ok := a[p]; !ok {
			diffs = append(diffs, FileDiff{Path: p, Status: Added, New: nu})
		}
	}
	sortDiffs(diffs)
	return diffs
}

func sortDiffs(diffs []FileDiff) {
	// Removed and modified files are already in order; added ones were appended unsorted.
	slices.SortFunc(diffs, func(x, y FileDiff) int { return strings.Compare(x.Path, y.Path) })
}

// Diff returns the files that differ from commit from to commit to, sorted by path. An empty
// from or to stands for the empty tree.
func (r *Repo) Diff(ctx context.Context, from, to ID) ([]FileDiff, error) {
	a, err := r.commitTree(ctx, from)
	if err != nil {
		return nil, err
	}
	b, err := r.commitTree(ctx, to)
	if err != nil {
		return nil, err
	}
	return DiffTrees(a, b), nil
}

// commitTree returns the tree of commit id, or the empty tree for "".
func (r *Repo) commitTree(ctx context.Context, id ID) (Tree, error) {
	if id == "" {
		return Tree{}, nil
	}
	c, err := r.Commit(ctx, id)
	if err != nil {
		return nil, err
	}
	return r.Tree(ctx, c.Tree)
}

// diffContext is the number of unchanged lines shown around each change.
const diffContext = 3

// binarySniffLen is how much of a file is searched for a NUL byte, as Git does.
const binarySniffLen = 8000

// UnifiedDiff writes the changes from commit from to commit to as a Git-style unified diff
// ("diff --git" headers, "---"/"+++" lines, hunks with three lines of context). Files that
// contain a NUL byte or are not valid UTF-8 are reported as "Binary files a/x and b/x
// differ". An empty from or to stands for the empty tree.
func (r *Repo) UnifiedDiff(ctx context.Context, from, to ID, w io.Writer) error {
	diffs, err := r.Diff(ctx, from, to)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	for _, d := range diffs {
		var old, nu []byte
		if d.Old != "" {
			if old, err = r.Blob(ctx, d.Old); err != nil {
				return fmt.Errorf("file %q: %w", d.Path, err)
			}
		}
		if d.New != "" {
			if nu, err = r.Blob(ctx, d.New); err != nil {
				return fmt.Errorf("file %q: %w", d.Path, err)
			}
		}
		if err := writeFileDiff(&out, d, old, nu); err != nil {
			return err
		}
		// Write file by file so that a large diff is not held in memory whole.
		if _, err := out.WriteTo(w); err != nil {
			return err
		}
	}
	return nil
}

// writeFileDiff writes the unified diff of one file.
func writeFileDiff(out *bytes.Buffer, d FileDiff, old, nu []byte) error {
	fromName, toName := "a/"+d.Path, "b/"+d.Path
	fmt.Fprintf(out, "diff --git %s %s\n", fromName, toName)
	switch d.Status {
	case Added:
		fromName = "/dev/null"
		out.WriteString("new file mode 100644\n")
	case Removed:
		toName = "/dev/null"
		out.WriteString("deleted file mode 100644\n")
	}
	fmt.Fprintf(out, "index %s..%s\n", shortOrZero(d.Old), shortOrZero(d.New))
	if isBinary(old) || isBinary(nu) {
		fmt.Fprintf(out, "Binary files %s and %s differ\n", fromName, toName)
		return nil
	}
	if len(old) == 0 && len(nu) == 0 {
		return nil // an empty file added or removed: the header says it all
	}
	fmt.Fprintf(out, "--- %s\n+++ %s\n", fromName, toName)
	return difflib.WriteUnifiedDiff(out, difflib.UnifiedDiff{
		A:       splitLines(old),
		B:       splitLines(nu),
		Context: diffContext,
	})
}

func shortOrZero(id ID) string {
	if id == "" {
		return strings.Repeat("0", 12)
	}
	return id.Short()
}

// isBinary reports whether content is not text: it has a NUL byte early on or is not UTF-8.
func isBinary(content []byte) bool {
	return bytes.IndexByte(content[:min(len(content), binarySniffLen)], 0) >= 0 || !utf8.Valid(content)
}

// noNewline marks a last line that lacks its newline, as Git does. Attaching the marker to
// the line makes "x" and "x\n" differ while two unterminated "x" lines still match.
const noNewline = "\n\\ No newline at end of file\n"

// splitLines splits content into lines that keep their "\n".
func splitLines(content []byte) []string {
	if len(content) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(content), "\n")
	if last := lines[len(lines)-1]; last == "" {
		lines = lines[:len(lines)-1]
	} else {
		lines[len(lines)-1] = last + noNewline
	}
	return lines
}
