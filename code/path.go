package code

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/cases"
	"golang.org/x/text/unicode/norm"
)

// Limits on paths.
const (
	// MaxPathLen is the longest accepted path, in bytes.
	MaxPathLen = 512
	// MaxElemLen is the longest accepted path element, in bytes: the limit of a name on
	// most file systems (ext4, APFS, NTFS in UTF-16 units, which are never more than bytes).
	MaxElemLen = 255
)

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

// ValidatePath reports whether p can name a file in a tree that every developer can pull,
// whatever their file system. The rule:
//
//   - p is relative, slash-separated, clean, valid UTF-8, at most MaxPathLen bytes, with
//     no empty element, no "." or ".." element, no element starting with "." (so no
//     dotfiles: a pulled tree can never write .git/hooks or .starbase), and no control
//     character or backslash anywhere;
//   - no element is longer than MaxElemLen bytes;
//   - no element contains a character Windows does not allow in names: < > : " | ? *
//     (":" also refuses drive letters such as C: and NTFS alternate data streams);
//   - no element ends with "." or " ", which Windows removes (so "x." would be "x");
//   - no element is a Windows device name (CON, PRN, AUX, NUL, CONIN$, CONOUT$, COM0-9,
//     LPT0-9, COM¹²³, LPT¹²³), in any case, with or without an extension ("con.txt",
//     "Nul.tar.gz"), before trailing spaces: opening such a file opens the device;
//   - no element looks like a Windows 8.3 short name: its part before the first "." ends
//     in "~" and digits ("GIT~1", "PROGRA~2.txt"), since a short name can alias another
//     name, such as .git;
//   - no element contains a code point that is invisible or reorders text: the ones HFS+
//     ignores when it compares names (U+200C-U+200F, U+202A-U+202E, U+206A-U+206F,
//     U+FEFF; "\u200c.git" is .git on a Mac), the zero-width space U+200B, the bidi
//     isolates U+2066-U+2069 and the Arabic letter mark U+061C (an override such as U+202E
//     makes a name display as another).
//
// A tree as a whole must also pass ValidateTree (no path both a file and a directory, no
// two paths equal on a case-insensitive file system).
func ValidatePath(p string) error {
	if err := validateShape(p); err != nil {
		return err
	}
	for elem := range strings.SplitSeq(p, "/") {
		if reason := portableElem(elem); reason != "" {
			return &PathError{Path: p, Reason: fmt.Sprintf("its element %q %s", elem, reason)}
		}
	}
	return nil
}

// validateShape checks the part of the rule that keeps a path inside a tree (relative,
// clean, no dot elements): what every stored tree has always had to satisfy. Stored trees
// are decoded with it alone, so that a commit made before the portability rules still reads
// (pull then refuses its unportable names, with ValidatePath).
func validateShape(p string) error {
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
	for elem := range strings.SplitSeq(p, "/") {
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

// portableElem returns why elem (a well-formed element) cannot be a name on Windows or
// macOS, or "".
func portableElem(elem string) string {
	if len(elem) > MaxElemLen {
		return fmt.Sprintf("is %d bytes long, the limit for a name is %d", len(elem), MaxElemLen)
	}
	if i := strings.IndexAny(elem, `<>:"|?*`); i >= 0 {
		return fmt.Sprintf("contains %q, which Windows does not allow in names (\":\" would name a drive or a data stream)", elem[i])
	}
	for _, r := range elem {
		if invisible(r) {
			return fmt.Sprintf("contains %U, an invisible or text-reordering code point: macOS ignores some of these in names (\"\\u200c.git\" is .git there) and others make a name display as another", r)
		}
	}
	if last := elem[len(elem)-1]; last == '.' || last == ' ' {
		return "ends with a dot or a space, which Windows removes (it would name another file)"
	}
	base, _, _ := strings.Cut(elem, ".")
	base = strings.TrimRight(base, " ")
	if isDeviceName(base) {
		return "is a Windows device name (with any extension, opening it opens the device)"
	}
	if i := strings.LastIndexByte(base, '~'); i >= 0 && i < len(base)-1 && strings.Trim(base[i+1:], "0123456789") == "" {
		return "looks like a Windows 8.3 short name (NAME~N), which can alias another name such as .git"
	}
	return ""
}

// invisible reports whether r is one of the invisible or text-reordering code points
// ValidatePath refuses.
func invisible(r rune) bool {
	switch {
	case r >= 0x200B && r <= 0x200F, r >= 0x202A && r <= 0x202E, r >= 0x2066 && r <= 0x206F,
		r == 0xFEFF, r == 0x061C:
		return true
	}
	return false
}

// isDeviceName reports whether base (a name without extension) is a Windows device name.
func isDeviceName(base string) bool {
	switch strings.ToLower(base) {
	case "con", "prn", "aux", "nul", "conin$", "conout$":
		return true
	}
	if len(base) < 4 {
		return false
	}
	switch strings.ToLower(base[:3]) {
	case "com", "lpt":
		switch base[3:] {
		case "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "¹", "²", "³":
			return true
		}
	}
	return false
}

// ValidateTree reports, in a *PathsError with one entry per problem, the paths of a tree
// that cannot all be files of one directory, each path being valid by itself:
//
//   - a path that is a file and also a directory of another path ("a" and "a/b"), which
//     no file system can hold;
//   - two paths that differ only in case or Unicode normalization ("README" and
//     "readme", "é" composed or not), which are one file on the default file systems of
//     macOS and Windows; a file and a directory that differ so ("A" and "a/b") conflict too.
//
// It takes time and memory linear in the total length of the paths.
func ValidateTree(paths []string) error {
	fold := cases.Fold()
	key := func(p string) string { return norm.NFC.String(fold.String(norm.NFC.String(p))) }
	files := make(map[string]string, len(paths)) // folded path -> path
	dirs := make(map[string]string)              // folded directory -> a path under it
	var bad []*PathError
	for _, p := range slices.Sorted(slices.Values(paths)) {
		k := key(p)
		if other, ok := files[k]; ok {
			if other == p {
				continue
			}
			bad = append(bad, &PathError{Path: p, Reason: fmt.Sprintf("it differs from %q only in case or Unicode normalization; the two would be one file on macOS and Windows", other)})
			continue
		}
		files[k] = p
		for i := len(k) - 1; i > 0; i-- {
			if k[i] != '/' {
				continue
			}
			if _, seen := dirs[k[:i]]; seen {
				break // and so are its parents
			}
			dirs[k[:i]] = p
		}
	}
	for k, p := range files {
		if under, ok := dirs[k]; ok {
			bad = append(bad, &PathError{Path: p, Reason: fmt.Sprintf("it is a file, and %q needs it to be a directory", under)})
		}
	}
	if len(bad) == 0 {
		return nil
	}
	slices.SortFunc(bad, func(a, b *PathError) int { return strings.Compare(a.Path, b.Path) })
	return &PathsError{Paths: bad}
}
