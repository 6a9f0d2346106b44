package code

import (
	"errors"
	"fmt"
	"strings"
)

var (
	// ErrNotFound is returned when a ref, commit, tree or blob does not exist, and by Resolve
	// when a name is neither a ref nor the id or id prefix of a stored commit.
	ErrNotFound = errors.New("code: not found")

	// ErrCorrupt is returned when a stored object does not match its id or cannot be decoded
	// strictly (unknown fields, bad ids or paths, non-canonical encoding), or when a ref does
	// not hold a commit id. The store content must be repaired; retrying does not help.
	ErrCorrupt = errors.New("code: corrupt object")

	// ErrStale is returned (wrapped in a *StaleError) when a ref is not at the commit the
	// caller based its change on: somebody else moved it first.
	ErrStale = errors.New("code: ref has moved")

	// ErrConflict is returned when a forced update lost the race for its ref: the ref moved
	// between reading it and the final store commit. Nothing was published; retry.
	ErrConflict = errors.New("code: ref changed during the update")

	// ErrInvalidID is returned when a string is not a full object id (64 lowercase hex digits).
	ErrInvalidID = errors.New("code: invalid object id")

	// ErrInvalidRef is returned when a ref name is not acceptable (see ValidateRefName).
	ErrInvalidRef = errors.New("code: invalid ref name")

	// ErrInvalidRequest is returned when a Push or SetRef request is malformed apart
	// from its paths: an empty or overlong author, a message or note with control
	// characters, or Extra operations that would write code objects behind the repository's
	// back.
	ErrInvalidRequest = errors.New("code: invalid request")

	// ErrTooLarge is returned when a push cannot fit the store's per-commit limits: a single
	// file larger than one store commit, or a final commit (tree, commit, ref and Extra)
	// larger than one store commit. Nothing is written.
	ErrTooLarge = errors.New("code: push too large for the store")

	// ErrPrefixTooShort is returned by Resolve when a hex id prefix has fewer than
	// MinPrefixLen characters and no ref has that name.
	ErrPrefixTooShort = errors.New("code: commit id prefix too short")

	// ErrDropped is returned (wrapped in a *DroppedError, which also matches ErrNotFound)
	// when a commit was dropped by a retention policy ([Collector]): it existed, and its
	// code is no longer stored.
	ErrDropped = errors.New("code: commit dropped by the retention policy")

	// ErrAmbiguous is returned by Resolve when an id prefix matches more than one commit.
	ErrAmbiguous = errors.New("code: ambiguous commit id prefix")
)

// StaleError reports that a ref was not at the commit a change was based on.
type StaleError struct {
	Ref string
	// Expected is the commit the caller based its change on ("" for "the ref must not exist").
	Expected ID
	// Current is the commit the ref is at ("" when the ref does not exist).
	Current ID
}

func (e *StaleError) Error() string {
	switch {
	case e.Current == "":
		return fmt.Sprintf("ref %q does not exist but the change was based on commit %s; "+
			"pull again, or use --force to create it anyway", e.Ref, e.Expected.Short())
	case e.Expected == "":
		return fmt.Sprintf("ref %q already exists at commit %s but the change was based on "+
			"no commit; pull first and re-apply your change, or use --force to overwrite it",
			e.Ref, e.Current.Short())
	default:
		return fmt.Sprintf("ref %q is at commit %s, not at %s which the change was based on; "+
			"pull and re-apply your change, or use --force to overwrite it",
			e.Ref, e.Current.Short(), e.Expected.Short())
	}
}

// Unwrap makes errors.Is(err, ErrStale) hold.
func (e *StaleError) Unwrap() error { return ErrStale }

// PathsError lists every rejected path of a push. Nothing was written.
type PathsError struct {
	// Paths are the rejected paths, sorted by path.
	Paths []*PathError
}

func (e *PathsError) Error() string {
	var b strings.Builder
	if len(e.Paths) == 1 {
		b.WriteString("1 invalid path, nothing was written:")
	} else {
		fmt.Fprintf(&b, "%d invalid paths, nothing was written:", len(e.Paths))
	}
	for _, p := range e.Paths {
		b.WriteString("\n\t")
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap returns each *PathError, so that errors.Is(err, ErrInvalidPath) holds.
func (e *PathsError) Unwrap() []error {
	errs := make([]error, len(e.Paths))
	for i, p := range e.Paths {
		errs[i] = p
	}
	return errs
}

// corruptf returns an error wrapping ErrCorrupt that names the object and what is wrong.
func corruptf(kind string, id ID, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s: %s", ErrCorrupt, kind, id.Short(), fmt.Sprintf(format, args...))
}
