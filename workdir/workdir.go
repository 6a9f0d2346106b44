// Package workdir maps a tree of stored code to a directory of the developer's own files, so
// that the CLI round-trips with their editor and git.
//
// A directory remembers, in .starbase/state.json, the commit it was last pulled or pushed
// from and the blob id of every file that commit gave it. That record is what lets push refuse
// to silently discard someone else's change (the ref moved since the base commit) and lets
// pull refuse to overwrite local edits (a file differs from what the base commit gave it).
// Dotfiles and dot-directories are never part of a tree.
package workdir

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/starbase/starbase/code"
)

// StateFile is where a directory's base commit is recorded, relative to the directory.
const StateFile = ".starbase/state.json"

// State is a directory's record of its base commit.
type State struct {
	Commit string             `json:"commit"`
	Files  map[string]code.ID `json:"files"` // path -> blob id as of Commit
}

// ErrLocalChanges is returned by Apply when files changed locally would be overwritten or removed.
var ErrLocalChanges = errors.New("local changes would be overwritten")

// Read returns the files of dir that form a tree: every regular file whose path has no
// element starting with ".". Symbolic links and other special files are refused, since
// what they point to would not round-trip.
func Read(dir string) (map[string][]byte, error) {
	files := map[string][]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == dir {
			return nil
		}
		if strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: only regular files can be pushed (this is a %s)", rel, d.Type())
		}
		if err := code.ValidatePath(rel); err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files[rel] = b
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	return files, nil
}

// LoadState returns the state of dir; a directory never pulled or pushed has the zero State.
func LoadState(dir string) (State, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return State{}, nil
	}
	if err != nil {
		return State{}, err
	}
	var st State
	if err := json.Unmarshal(b, &st); err != nil {
		return State{}, fmt.Errorf("%s is corrupt (%v): delete it and pull again", filepath.Join(dir, StateFile), err)
	}
	return st, nil
}

// SaveState records that dir now holds files as of commit.
func SaveState(dir, commit string, files map[string][]byte) error {
	st := State{Commit: commit, Files: make(map[string]code.ID, len(files))}
	for p, b := range files {
		st.Files[p] = code.HashBlob(b)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(dir, StateFile)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
