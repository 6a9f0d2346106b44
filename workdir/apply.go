package workdir

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/starbase/starbase/code"
)

// ErrConflict is returned by Apply when the directory holds something in the way of the
// commit's files that Apply may not remove: a file where the commit needs a directory, or a
// directory holding files that are not the previous pull's where the commit has a file.
var ErrConflict = errors.New("the directory holds something in the way")

// rename is os.Rename; tests replace it to fail at each step of an Apply in turn.
var rename = os.Rename

// Apply makes dir hold files, the content of commit, where it held prev's. It writes every
// file of files and removes only the files prev recorded that files no longer has. Unless
// force, it refuses if that would overwrite or remove a file that differs from what prev
// recorded (a local edit, or a local file prev did not give).
//
// Apply either completes or changes nothing:
//
//  1. Every check runs before any change: the paths (code.ValidatePath: nothing outside
//     dir, in its dotfiles or unportable; code.ValidateTree: no file that is also a
//     directory, no two names one file on macOS or Windows), local changes, and what is in
//     the way (ErrConflict).
//  2. The new content and the new state are written into a temporary directory next to
//     the target: a sibling of dir when dir does not exist yet (which is then renamed to
//     dir, one atomic step), otherwise under dir/.starbase/.
//  3. Each change is then a rename, and each is recorded: if one fails (a permission, a
//     full disk, a concurrent process), those made are undone in reverse order and the
//     error says so; the previous content of every replaced or removed file stays in the
//     temporary directory until the end.
//
// What it does not guarantee: a crash of the process (or the machine) during step 3 leaves
// the changes made so far and the temporary directory, dir/.starbase/pull-*, which holds
// the previous content; the state file is replaced last, so the next pull or push sees the
// old base and the changed files as local changes.
func Apply(dir string, prev State, commit string, files map[string][]byte, force bool) error {
	if err := checkPaths(prev, files); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); errors.Is(err, fs.ErrNotExist) {
		return create(dir, commit, files)
	} else if err != nil {
		return err
	}
	local, err := Read(dir)
	if err != nil {
		return err
	}
	if !force {
		if err := checkLocalChanges(local, prev, files); err != nil {
			return err
		}
	}
	p, err := makePlan(dir, local, prev, files)
	if err != nil {
		return err
	}
	return p.run(commit, files)
}

// checkPaths refuses, before anything is written, paths a server should never have sent.
func checkPaths(prev State, files map[string][]byte) error {
	paths := make([]string, 0, len(files))
	for p := range files {
		if err := code.ValidatePath(p); err != nil {
			return fmt.Errorf("refusing to pull, nothing was changed: %w", err)
		}
		paths = append(paths, p)
	}
	if err := code.ValidateTree(paths); err != nil {
		return fmt.Errorf("refusing to pull, nothing was changed: %w", err)
	}
	for p := range prev.Files {
		// The state was written by an older version, perhaps with names now refused: it
		// only has to stay inside dir.
		if err := code.ValidatePath(p); err != nil && !isShapeOK(p) {
			return fmt.Errorf("%s records a bad path: %w; delete it and pull again", StateFile, err)
		}
	}
	return nil
}

// isShapeOK reports whether p stays inside a directory and out of its dotfiles.
func isShapeOK(p string) bool {
	if p == "" || strings.HasPrefix(p, "/") || strings.Contains(p, `\`) || strings.ContainsRune(p, 0) {
		return false
	}
	for elem := range strings.SplitSeq(p, "/") {
		if elem == "" || elem[0] == '.' {
			return false
		}
	}
	return true
}

// checkLocalChanges refuses to overwrite or remove a file that differs from what prev
// recorded.
func checkLocalChanges(local map[string][]byte, prev State, files map[string][]byte) error {
	var changed []string
	for p, content := range local {
		recorded, tracked := prev.Files[p]
		newContent, incoming := files[p]
		if incoming && bytes.Equal(newContent, content) {
			continue
		}
		if tracked && recorded == code.HashBlob(content) {
			continue // unchanged since the last pull or push: safe to replace or remove
		}
		if tracked || incoming {
			changed = append(changed, p)
		}
	}
	if len(changed) == 0 {
		return nil
	}
	slices.Sort(changed)
	return fmt.Errorf("%w: %s (push them, move them away, or pull with --force)", ErrLocalChanges, strings.Join(changed, ", "))
}

// create makes dir, which does not exist, hold files: it writes them into a sibling
// temporary directory and renames that to dir.
func create(dir, commit string, files map[string][]byte) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".pull-")
	if err != nil {
		return err
	}
	fail := func(err error) error {
		os.RemoveAll(tmp)
		return fmt.Errorf("pull into %s failed, nothing was changed: %w", dir, err)
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		full := filepath.Join(tmp, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return fail(err)
		}
		if err := os.WriteFile(full, files[p], 0o644); err != nil {
			return fail(err)
		}
	}
	if err := SaveState(tmp, commit, files); err != nil {
		return fail(err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it 0700
		return fail(err)
	}
	if err := rename(tmp, dir); err != nil {
		return fail(err)
	}
	return nil
}

// plan is what Apply changes in an existing directory, decided before any change.
type plan struct {
	dir     string
	removes []string // files of the previous pull to remove, sorted
	writes  []string // files to write (new or changed), sorted
	// emptyDirs are directories, deepest first, that hold only files being removed and
	// must go because the commit has a file by their name.
	emptyDirs []string
}

// makePlan decides what to change, and refuses (ErrConflict) when something other than
// the previous pull's files is in the way.
func makePlan(dir string, local map[string][]byte, prev State, files map[string][]byte) (*plan, error) {
	p := &plan{dir: dir}
	removing := map[string]bool{}
	for f := range prev.Files {
		if _, keep := files[f]; !keep {
			if _, exists := local[f]; exists {
				removing[f] = true
				p.removes = append(p.removes, f)
			}
		}
	}
	slices.Sort(p.removes)
	for f, content := range files {
		if old, ok := local[f]; !ok || !bytes.Equal(old, content) {
			p.writes = append(p.writes, f)
		}
	}
	slices.Sort(p.writes)

	var problems []string
	for _, f := range p.writes {
		// Every parent must be a directory, be absent, or be a file being removed.
		elems := strings.Split(f, "/")
		underFile := false // a parent is a file: f itself cannot exist
		for i := 1; i < len(elems) && !underFile; i++ {
			parent := strings.Join(elems[:i], "/")
			fi, err := os.Lstat(p.full(parent))
			if errors.Is(err, fs.ErrNotExist) {
				break
			}
			if err != nil {
				return nil, err
			}
			if fi.IsDir() {
				continue
			}
			if !removing[parent] {
				problems = append(problems, fmt.Sprintf("%s is a file here, and the commit's %s needs it to be a directory", parent, f))
			}
			underFile = true
		}
		if underFile {
			continue
		}
		// The file itself may replace a file, or a directory holding only files being
		// removed.
		fi, err := os.Lstat(p.full(f))
		if errors.Is(err, fs.ErrNotExist) || err == nil && fi.Mode().IsRegular() {
			continue
		}
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			problems = append(problems, fmt.Sprintf("%s is a %s here, and the commit has a file by that name", f, fi.Mode().Type()))
			continue
		}
		dirs, kept, err := p.emptiable(f, removing)
		if err != nil {
			return nil, err
		}
		if len(kept) > 0 {
			problems = append(problems, fmt.Sprintf("%s is a directory here holding %s, and the commit has a file by that name", f, strings.Join(kept, ", ")))
			continue
		}
		p.emptyDirs = append(p.emptyDirs, dirs...)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%w, nothing was changed (move these away and pull again):\n\t%s", ErrConflict, strings.Join(problems, "\n\t"))
	}
	return p, nil
}

// emptiable returns the directories of d (d included, deepest first), and the entries
// under d that Apply would not remove.
func (p *plan) emptiable(d string, removing map[string]bool) (dirs, kept []string, err error) {
	err = filepath.WalkDir(p.full(d), func(full string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(p.dir, full)
		rel = filepath.ToSlash(rel)
		switch {
		case e.IsDir():
			dirs = append(dirs, rel)
		case !e.Type().IsRegular() || !removing[rel]:
			kept = append(kept, rel)
		}
		return nil
	})
	slices.Reverse(dirs)
	return dirs, kept, err
}

func (p *plan) full(rel string) string { return filepath.Join(p.dir, filepath.FromSlash(rel)) }

// run stages the new content under dir/.starbase/ and then applies the plan, undoing
// every change made if one fails.
func (p *plan) run(commit string, files map[string][]byte) error {
	meta := filepath.Join(p.dir, filepath.Dir(StateFile))
	_, err := os.Lstat(meta)
	madeMeta := errors.Is(err, fs.ErrNotExist)
	if err := os.MkdirAll(meta, 0o755); err != nil {
		return err
	}
	stage, err := os.MkdirTemp(meta, "pull-")
	if err != nil {
		return err
	}
	cleanup := func() {
		os.RemoveAll(stage)
		if madeMeta {
			os.Remove(meta)
		}
	}
	staged := func(kind string, i int) string { return filepath.Join(stage, kind+strconv.Itoa(i)) }
	for i, f := range p.writes {
		if err := os.WriteFile(staged("new", i), files[f], 0o644); err != nil {
			cleanup()
			return fmt.Errorf("pull failed, nothing was changed: %w", err)
		}
	}
	if err := SaveState(stage, commit, files); err != nil {
		cleanup()
		return fmt.Errorf("pull failed, nothing was changed: %w", err)
	}

	var undo []func() error
	do := func(change func() error, reverse func() error) error {
		if err := change(); err != nil {
			return err
		}
		undo = append(undo, reverse)
		return nil
	}
	move := func(from, to string) error {
		return do(func() error { return rename(from, to) }, func() error { return rename(to, from) })
	}
	err = func() error {
		old := 0
		for _, f := range p.removes {
			if err := move(p.full(f), staged("old", old)); err != nil {
				return err
			}
			old++
		}
		for _, d := range p.emptyDirs {
			full, mode := p.full(d), fs.FileMode(0o755)
			if fi, err := os.Stat(full); err == nil {
				mode = fi.Mode().Perm()
			}
			if err := do(func() error { return os.Remove(full) }, func() error { return os.Mkdir(full, mode) }); err != nil {
				return err
			}
		}
		for i, f := range p.writes {
			if err := p.makeParents(f, do); err != nil {
				return err
			}
			full := p.full(f)
			if _, err := os.Lstat(full); err == nil {
				if err := move(full, staged("old", old)); err != nil {
					return err
				}
				old++
			}
			if err := move(staged("new", i), full); err != nil {
				return err
			}
		}
		state := filepath.Join(p.dir, filepath.FromSlash(StateFile))
		if _, err := os.Lstat(state); err == nil {
			if err := move(state, filepath.Join(stage, "old-state.json")); err != nil {
				return err
			}
		}
		return move(filepath.Join(stage, filepath.FromSlash(StateFile)), state)
	}()
	if err == nil {
		os.RemoveAll(stage)
		return nil
	}
	for i := len(undo) - 1; i >= 0; i-- {
		if uerr := undo[i](); uerr != nil {
			return fmt.Errorf("pull failed: %w; undoing its changes failed too (%v): the previous content of the files it replaced or removed is in %s", err, uerr, stage)
		}
	}
	cleanup()
	return fmt.Errorf("pull failed, every change was undone: %w", err)
}

// makeParents creates the missing parent directories of f, each recorded to be undone.
func (p *plan) makeParents(f string, do func(change, reverse func() error) error) error {
	var missing []string
	for d := path.Dir(f); d != "."; d = path.Dir(d) {
		if _, err := os.Lstat(p.full(d)); err == nil {
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		full := p.full(missing[i])
		if err := do(func() error { return os.Mkdir(full, 0o755) }, func() error { return os.Remove(full) }); err != nil {
			return err
		}
	}
	return nil
}
