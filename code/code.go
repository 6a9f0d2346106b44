package code

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// ID is the hex SHA-256 of an object's encoding.
type ID string

// Short returns the first 12 characters of id, for display.
func (id ID) Short() string {
	if len(id) > 12 {
		return string(id[:12])
	}
	return string(id)
}

// HashBlob returns the id of a blob with the given content.
func HashBlob(content []byte) ID {
	sum := sha256.Sum256(content)
	return ID(hex.EncodeToString(sum[:]))
}

// Tree maps file paths to blob ids. Paths are validated by ValidatePath.
type Tree map[string]ID

// Commit is one recorded version of the code.
type Commit struct {
	ID      ID        `json:"-"`
	Tree    ID        `json:"tree"`
	Parents []ID      `json:"parents,omitempty"`
	Author  string    `json:"author"`
	Message string    `json:"message"`
	Time    time.Time `json:"time"`
	// Notes records facts about how the commit was made, such as "no-tests" when the
	// validation gate's tests were skipped.
	Notes []string `json:"notes,omitempty"`
}

// Store key prefixes.
const (
	Prefix        = "code/"
	BlobPrefix    = "code/blobs/"
	TreePrefix    = "code/trees/"
	CommitPrefix  = "code/commits/"
	RefPrefix     = "code/refs/"
	DefaultBranch = "main"
)
