package code

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxPathLen is the longest accepted path, in bytes.
const MaxPathLen = 512

// ErrInvalidPath is returned (wrapped in a *PathError) when a path cannot name a file in a tree.
var ErrInvalidPath = errors.New("invalid path")

// PathError names a rejected path and why it was rejected.
type PathError struct {
	Path   string
	Reason string
}

func (e *PathError) Error() string {
	return fmt.Sprintf("invalid path %q: %s", e.Path, e.Reason)
}

// Unwrap makes errors.Is(err, ErrInvalidPath) hold.
func (e *PathError) Unwrap() error { return ErrInvalidPath }

// ValidatePath reports whether p can name a file in a tree: a relative, slash-separated,
// clean path of valid UTF-8 without empty elements, elements starting with "." (so no "..",
// and no dotfiles: a pulled tree can never write .git/hooks), control characters or
// backslashes, at most MaxPathLen bytes long.
func ValidatePath(p string) error {
	bad := func(reason string) error { return &PathError{Path: p, Reason: reason} }
	switch {
	case p == "":
		return bad("it is empty")
	case len(p) > MaxPathLen:
		return bad(fmt.Sprintf("it is %d bytes long, the limit is %d", len(p), MaxPathLen))
	case !utf8.ValidString(p):
		return bad("it is not valid UTF-8")
	case strings.HasPrefix(p, "/"):
		return bad("it is absolute; use a path relative to the tree root")
	case strings.ContainsRune(p, '\\'):
		return bad(`it contains a backslash; separate directories with "/"`)
	}
	for _, r := range p {
		if unicode.IsControl(r) {
			return bad(fmt.Sprintf("it contains the control character %U", r))
		}
	}
	for _, elem := range strings.Split(p, "/") {
		switch elem {
		case "":
			return bad("it has an empty element (a trailing slash or \"//\")")
		case ".", "..":
			return bad(fmt.Sprintf("it has a %q element; paths must stay inside the tree", elem))
		}
		if elem[0] == '.' {
			return bad(fmt.Sprintf("its element %q starts with a dot; dotfiles (.git, .starbase, ...) are the developer's own and never part of a tree", elem))
		}
	}
	return nil
}
