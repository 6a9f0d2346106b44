package server

import (
	"crypto/rand"
	"encoding/hex"
	"strconv"
	"sync/atomic"
)

// requestIDs issues the ids of app requests ("3f9a1c2b7d4e5f60-1a"): a random prefix
// drawn once per Server, so that the ids of different nodes and restarts differ, and a
// counter, so that each id is unique within the Server at the cost of one atomic add.
// It is safe for concurrent use.
type requestIDs struct {
	prefix string // 16 hex digits
	count  atomic.Uint64
}

func newRequestIDs() *requestIDs {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return &requestIDs{prefix: hex.EncodeToString(b[:])}
}

// next returns a new id.
func (ids *requestIDs) next() string {
	var b [40]byte
	id := append(b[:0], ids.prefix...)
	id = append(id, '-')
	id = strconv.AppendUint(id, ids.count.Add(1), 16)
	return string(id)
}

// newErrorID returns a random id for an app error, which the client is shown: 16 hex
// digits that say nothing of how many requests or errors the node served.
func newErrorID() string {
	var b [8]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return hex.EncodeToString(b[:])
}
