package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// defaultDebounce is how long push --watch waits after the last change before pushing:
// long enough for an editor's save (write, rename, chmod) to finish, short enough to feel
// immediate.
const defaultDebounce = 200 * time.Millisecond

// watchDir calls onChange once its watch is set up, then after each burst of changes to
// the files of dir, once the files have been quiet for quiet, until ctx ends. (Changes
// made while onChange runs make it run again.) Changes to dotfiles and inside dot-directories
// (.starbase/, .git/) are ignored, since they are not part of the tree. Directories created
// later are watched too. Watch errors are written to stderr and do not stop the watch.
func watchDir(ctx context.Context, dir string, quiet time.Duration, stderr io.Writer, onChange func()) error {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}
	defer w.Close()
	if err := addTree(w, dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}

	onChange()
	timer := time.NewTimer(quiet)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return nil
			}
			if ignoredPath(dir, ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() {
					if err := addTree(w, ev.Name); err != nil {
						fmt.Fprintf(stderr, "watching %s: %v\n", ev.Name, err)
					}
				}
			}
			timer.Reset(quiet)
		case err, ok := <-w.Errors:
			if !ok {
				return nil
			}
			fmt.Fprintf(stderr, "watching %s: %v\n", dir, err)
		case <-timer.C:
			onChange()
		}
	}
}

// addTree watches dir and every directory below it but dot-directories.
func addTree(w *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}

// ignoredPath reports whether a change at path, inside dir, is outside the tree: some
// element of its path below dir starts with ".".
func ignoredPath(dir, path string) bool {
	rel, err := filepath.Rel(dir, path)
	if err != nil || rel == "." {
		return false
	}
	for _, elem := range strings.Split(filepath.ToSlash(rel), "/") {
		if strings.HasPrefix(elem, ".") {
			return true
		}
	}
	return false
}
