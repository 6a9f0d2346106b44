package runtime

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"github.com/starbase/starbase/code"
)

// Dialect returns the Starlark dialect of stored modules: while loops, recursion, sets
// and if/for/while at top level are allowed; reassigning a global is not (a module's
// globals are bound once, which keeps top-level code easy to follow). It returns a new
// value on each call.
func Dialect() *syntax.FileOptions {
	return &syntax.FileOptions{
		Set:             true,
		While:           true,
		TopLevelControl: true,
		GlobalReassign:  false,
		Recursion:       true,
	}
}

// cacheFileMagic starts every bytecode cache file; the SHA-256 of the payload follows.
const cacheFileMagic = "starbase-starc-1\n"

// compilerID names the Starlark compiler that produced a program: the go.starlark.net
// module version linked into this binary and its bytecode version.
func compilerID() string {
	version := "unknown"
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "go.starlark.net" {
				version = dep.Version
				if dep.Replace != nil {
					version = dep.Replace.Path + "@" + dep.Replace.Version
				}
			}
		}
	}
	return fmt.Sprintf("go.starlark.net@%s bytecode %d", version, starlark.CompilerVersion)
}

// configID returns the hex SHA-256 of what, besides a module's own content, determines
// what it compiles to and what its top level computes: the compiler, the dialect, the
// rewriting that inserts the checks, and the predeclared names.
func configID(predeclared starlark.StringDict) string {
	h := sha256.New()
	fmt.Fprintf(h, "compiler %s\ndialect %+v\nrewrite %s\npredeclared %s\n",
		compilerID(), *Dialect(), rewriteVersion, strings.Join(predeclared.Keys(), " "))
	return hex.EncodeToString(h.Sum(nil))
}

// programKey returns the cache key of the compiled program of blob at path. The path is
// part of the key because the program records it for tracebacks.
func (l *Loader) programKey(path string, blob code.ID) string {
	sum := sha256.Sum256([]byte("program\x00" + l.config + "\x00" + path + "\x00" + string(blob)))
	return hex.EncodeToString(sum[:])
}

// program returns the compiled program of blob at path, from memory, from the disk cache,
// or by reading and compiling the blob, in that order. Concurrent requests for the same
// program share one compilation.
func (l *Loader) program(ctx context.Context, blobs BlobSource, path string, blob code.ID) (*starlark.Program, error) {
	key := l.programKey(path, blob)
	if prog, ok := l.programs.get(key); ok {
		l.stats.compileHits.Add(1)
		return prog, nil
	}
	cached := func() (*starlark.Program, bool) { return l.programs.get(key) }
	prog, err := l.compiles.do(ctx, key, cached, func() (*starlark.Program, error) {
		// Not the caller's context: others may be waiting for this compilation.
		ctx, cancel := context.WithTimeout(l.ctx, l.limits.LoadTimeout)
		defer cancel()
		prog, err := l.compile(ctx, blobs, path, blob, key)
		if err == nil {
			l.programs.add(key, prog)
		}
		return prog, err
	})
	if err != nil {
		return nil, waitError(err)
	}
	return prog, nil
}

// compile returns the program of blob at path from the disk cache, or compiles it and
// writes it there. A cache file that cannot be read back is replaced, never trusted.
func (l *Loader) compile(ctx context.Context, blobs BlobSource, path string, blob code.ID, key string) (*starlark.Program, error) {
	file := ""
	if l.cacheDir != "" {
		file = filepath.Join(l.cacheDir, key+".starc")
		prog, err := readProgram(file, path)
		if err == nil {
			l.stats.compileHits.Add(1)
			l.stats.diskHits.Add(1)
			touch(file) // for PruneCache: used least recently goes first
			return prog, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			l.logger.Warn("discarding bytecode cache file", "file", file, "module", path, "err", err)
		}
	}

	src, err := blobs.Blob(ctx, blob)
	if err != nil {
		return nil, fmt.Errorf("read blob %s: %w", blob.Short(), err)
	}
	if got := code.HashBlob(src); got != blob {
		return nil, fmt.Errorf("%w: blob %s has content of blob %s", ErrBadBlob, blob.Short(), got.Short())
	}
	// Parsing, rewriting and compiling cannot be interrupted, but each is linear in the
	// source once ParseModule has bounded the depth of its tree; the deadline is checked
	// between them, so a compilation ends at most one phase after it.
	f, err := ParseModule(path, src)
	if err != nil {
		return nil, err
	}
	if err := compileDeadline(ctx, path, "parsing"); err != nil {
		return nil, err
	}
	if err := rewrite(f); err != nil {
		return nil, err
	}
	if err := compileDeadline(ctx, path, "rewriting"); err != nil {
		return nil, err
	}
	prog, err := starlark.FileProgram(f, l.predeclared.Has)
	if err != nil {
		return nil, err
	}
	if err := compileDeadline(ctx, path, "compiling"); err != nil {
		return nil, err
	}
	l.stats.compiles.Add(1)

	if file != "" {
		if err := writeProgram(file, prog); err != nil {
			l.logger.Warn("cannot write bytecode cache file", "file", file, "module", path, "err", err)
		}
	}
	return prog, nil
}

// compileDeadline returns an error wrapping ErrTimeout or ErrCanceled if ctx, the
// compilation's (bounded by Limits.LoadTimeout), ended during phase.
func compileDeadline(ctx context.Context, path, phase string) error {
	if ctx.Err() == nil {
		return nil
	}
	return fmt.Errorf("%s: %w (after %s; Limits.LoadTimeout bounds compiling a module too)", path, waitError(ctx.Err()), phase)
}

// readProgram decodes a cache file written by writeProgram and checks that it holds the
// program of path.
func readProgram(file, path string) (*starlark.Program, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	header := len(cacheFileMagic) + sha256.Size
	if len(data) < header || string(data[:len(cacheFileMagic)]) != cacheFileMagic {
		return nil, fmt.Errorf("not a bytecode cache file (bad header)")
	}
	payload := data[header:]
	if sum := sha256.Sum256(payload); !bytes.Equal(sum[:], data[len(cacheFileMagic):header]) {
		return nil, fmt.Errorf("checksum mismatch")
	}
	prog, err := decodeProgram(payload)
	if err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	if prog.Filename() != path {
		return nil, fmt.Errorf("holds module %q, want %q", prog.Filename(), path)
	}
	return prog, nil
}

// decodeProgram decodes a Program.Write encoding, turning a decoder panic on malformed
// input into an error.
func decodeProgram(payload []byte) (prog *starlark.Program, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed program: %v", p)
		}
	}()
	return starlark.CompiledProgram(bytes.NewReader(payload))
}

// writeProgram writes prog to file atomically (a temporary file renamed into place), so
// that concurrent writers and readers never see a partial file.
func writeProgram(file string, prog *starlark.Program) error {
	var payload bytes.Buffer
	if err := prog.Write(&payload); err != nil {
		return err
	}
	sum := sha256.Sum256(payload.Bytes())
	tmp, err := os.CreateTemp(filepath.Dir(file), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly once renamed
	data := append(append([]byte(cacheFileMagic), sum[:]...), payload.Bytes()...)
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), file)
}
