package code

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Object encodings.
//
// A tree is encoded as {"files":{"<path>":"<blob id>",...}} and a commit as
// {"tree":...,"parents":[...],"author":...,"message":...,"time":...,"notes":[...]}, both by
// encoding/json: object keys in a fixed order (struct fields in declaration order, map keys
// sorted), no insignificant whitespace, times in UTC. Every value therefore has exactly one
// encoding, and the decoders accept only that one: they re-encode what they decoded and
// compare. An object's id is the SHA-256 of its encoding, and the decoders check it, so a
// damaged object is reported as ErrCorrupt instead of being served.

// IDLen is the length of a full object id: 64 lowercase hex digits.
const IDLen = 64

// MaxRefLen is the longest accepted ref name, in bytes.
const MaxRefLen = 200

// ValidateID reports whether id is a full object id: 64 lowercase hex digits.
func ValidateID(id ID) error {
	if len(id) != IDLen || !isLowerHex(string(id)) {
		return fmt.Errorf("%w: %q is not 64 lowercase hex digits", ErrInvalidID, string(id))
	}
	return nil
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// ValidateRefName reports whether name can name a ref: one or more "/"-separated elements,
// each starting with an ASCII letter or digit and continuing with letters, digits, ".", "_"
// or "-", at most MaxRefLen bytes in all ("main", "canary", "users/ana/draft").
func ValidateRefName(name string) error {
	bad := func(reason string) error {
		return fmt.Errorf("%w %q: %s", ErrInvalidRef, name, reason)
	}
	if name == "" {
		return bad("it is empty")
	}
	if len(name) > MaxRefLen {
		return bad(fmt.Sprintf("it is %d bytes long, the limit is %d", len(name), MaxRefLen))
	}
	for elem := range strings.SplitSeq(name, "/") {
		if elem == "" {
			return bad(`it has an empty element (a leading or trailing slash, or "//")`)
		}
		if !isAlnum(elem[0]) {
			return bad("each element must start with a letter or a digit")
		}
		for i := 1; i < len(elem); i++ {
			if c := elem[i]; !isAlnum(c) && c != '.' && c != '_' && c != '-' {
				return bad(`use only letters, digits, ".", "_", "-" and "/"`)
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// treeEncoding is the stored form of a Tree.
type treeEncoding struct {
	Files map[string]ID `json:"files"`
}

// EncodeTree returns the canonical encoding of t and its id. It fails if a path is
// invalid (a *PathError) or a blob id is not a full id (ErrInvalidID).
func EncodeTree(t Tree) ([]byte, ID, error) {
	for p, id := range t {
		if err := validateShape(p); err != nil {
			return nil, "", err
		}
		if err := ValidateID(id); err != nil {
			return nil, "", fmt.Errorf("file %q: %w", p, err)
		}
	}
	data, err := encodeTree(t)
	if err != nil {
		return nil, "", err
	}
	return data, HashBlob(data), nil
}

func encodeTree(t Tree) ([]byte, error) {
	files := map[string]ID(t)
	if files == nil {
		files = map[string]ID{}
	}
	return json.Marshal(treeEncoding{Files: files})
}

// DecodeTree decodes the stored tree id. It fails with ErrCorrupt unless data is exactly the
// canonical encoding of a valid tree whose SHA-256 is id.
func DecodeTree(id ID, data []byte) (Tree, error) {
	if got := HashBlob(data); got != id {
		return nil, corruptf("tree", id, "its content hashes to %s", got.Short())
	}
	var enc treeEncoding
	if err := decodeStrict(data, &enc); err != nil {
		return nil, corruptf("tree", id, "%v", err)
	}
	if enc.Files == nil {
		return nil, corruptf("tree", id, `it has no "files" object`)
	}
	for p, blob := range enc.Files {
		if err := validateShape(p); err != nil {
			return nil, corruptf("tree", id, "%v", err)
		}
		if err := ValidateID(blob); err != nil {
			return nil, corruptf("tree", id, "file %q: %v", p, err)
		}
	}
	canonical, err := encodeTree(enc.Files)
	if err != nil || !bytes.Equal(canonical, data) {
		return nil, corruptf("tree", id, "it is not in canonical form")
	}
	return Tree(enc.Files), nil
}

// commitEncoding is the stored form of a Commit; its field order is the encoding's key order.
type commitEncoding struct {
	Tree    ID        `json:"tree"`
	Parents []ID      `json:"parents,omitempty"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	Notes   []string  `json:"notes,omitempty"`
}

// EncodeCommit returns the canonical encoding of c and its id; c.ID is ignored and c.Time is
// stored in UTC. It fails if the tree or a parent is not a full id (ErrInvalidID), if a text
// field is not valid UTF-8 (which JSON could not store faithfully) or if the time is outside
// the years 0 to 9999 (ErrInvalidRequest).
func EncodeCommit(c Commit) ([]byte, ID, error) {
	if err := ValidateID(c.Tree); err != nil {
		return nil, "", fmt.Errorf("commit tree: %w", err)
	}
	for _, p := range c.Parents {
		if err := ValidateID(p); err != nil {
			return nil, "", fmt.Errorf("commit parent: %w", err)
		}
	}
	texts := append([]string{c.Author, c.Message}, c.Notes...)
	for _, s := range texts {
		if !utf8.ValidString(s) {
			return nil, "", fmt.Errorf("%w: commit text %q is not valid UTF-8", ErrInvalidRequest, s)
		}
	}
	data, err := encodeCommit(c)
	if err != nil {
		return nil, "", fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return data, HashBlob(data), nil
}

func encodeCommit(c Commit) ([]byte, error) {
	return json.Marshal(commitEncoding{
		Tree:    c.Tree,
		Parents: c.Parents,
		Author:  c.Author,
		Message: c.Message,
		Time:    c.Time.UTC(),
		Notes:   c.Notes,
	})
}

// DecodeCommit decodes the stored commit id. It fails with ErrCorrupt unless data is exactly
// the canonical encoding of a commit whose SHA-256 is id. The returned commit's ID is id.
func DecodeCommit(id ID, data []byte) (Commit, error) {
	if got := HashBlob(data); got != id {
		return Commit{}, corruptf("commit", id, "its content hashes to %s", got.Short())
	}
	var enc commitEncoding
	if err := decodeStrict(data, &enc); err != nil {
		return Commit{}, corruptf("commit", id, "%v", err)
	}
	if err := ValidateID(enc.Tree); err != nil {
		return Commit{}, corruptf("commit", id, "tree: %v", err)
	}
	for _, p := range enc.Parents {
		if err := ValidateID(p); err != nil {
			return Commit{}, corruptf("commit", id, "parent: %v", err)
		}
	}
	c := Commit{
		ID:      id,
		Tree:    enc.Tree,
		Parents: enc.Parents,
		Author:  enc.Author,
		Message: enc.Message,
		Time:    enc.Time,
		Notes:   enc.Notes,
	}
	canonical, err := encodeCommit(c)
	if err != nil || !bytes.Equal(canonical, data) {
		return Commit{}, corruptf("commit", id, "it is not in canonical form")
	}
	return c, nil
}

// decodeStrict decodes one JSON value into v, rejecting unknown fields and trailing data.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return fmt.Errorf("trailing data after the object")
	}
	return nil
}

// Paths returns the paths of t in ascending order.
func (t Tree) Paths() []string {
	paths := make([]string, 0, len(t))
	for p := range t {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	return paths
}
