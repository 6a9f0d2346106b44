package server

import (
	"crypto/rand"
	"encoding/hex"
	"hash/fnv"
	"net/http"
	"time"

	"github.com/starbase/starbase/code"
)

// How requests are split while a rollout runs. Each request runs on exactly one of the two
// commits in play, the current release's or the rollout's, chosen once at its start:
//
//   - a request whose PinHeader names one of the two commits (its full id) runs on it, so an
//     API client can stay on one commit; a pin naming any other commit is ignored (a client
//     cannot reach a commit outside the two; previews are for developers);
//   - otherwise the affinity key of its AffinityCookie decides: hash(rollout commit, key)
//     falls in 10,000 buckets, the first percent*100 of which go to the rollout's commit.
//     A client keeps its key, so it keeps its commit while the percentage holds, and as
//     the percentage grows clients only move to the new commit, never back. A request
//     without a valid key gets a new random one, and the answer sets the cookie.
//
// The key is not a credential: it only picks a bucket, which a client may choose anyway by
// pinning. Like every starbase-* cookie it is the platform's: stored code neither sees it
// nor sets it. Without a running rollout neither the cookie nor the header does anything.

const (
	// PinHeader pins a request to one of the two commits of a running rollout.
	PinHeader = "Starbase-Commit-Pin"
	// AffinityCookie carries a client's affinity key while a rollout runs.
	AffinityCookie = "starbase-rollout"
	// affinityMaxAge is how long a browser keeps its affinity key.
	affinityMaxAge = 30 * 24 * time.Hour
	// affinityKeyLen is the length of an affinity key: hex of 16 random bytes.
	affinityKeyLen = 32
)

// pick returns the release r runs on: the current one, or while a rollout runs, the one
// its pin or affinity key (the value of its AffinityCookie) chooses, setting the cookie on
// w when r had no valid key. It returns nil when the node has no working release.
func (s *Server) pick(w http.ResponseWriter, r *http.Request, key string) *release {
	cur := s.releases.current.Load()
	c := s.releases.candidate.Load()
	cand := c.serving()
	if cand == nil || cur == nil || cand.commit == cur.commit {
		return cur
	}
	if pin := r.Header.Get(PinHeader); pin != "" {
		switch code.ID(pin) {
		case cur.commit:
			return cur
		case cand.commit:
			return cand
		}
	}
	if !validAffinityKey(key) {
		key = newAffinityKey()
		http.SetCookie(w, &http.Cookie{
			Name: AffinityCookie, Value: key, Path: "/", MaxAge: int(affinityMaxAge / time.Second),
			HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteLaxMode,
		})
	}
	if affinityBucket(c.rollout.Commit, key) < c.rollout.Percent(time.Now())*100 {
		return cand
	}
	return cur
}

// affinityBucket places key among 10,000 buckets for the rollout of commit: the same on
// every node.
func affinityBucket(commit, key string) int {
	h := fnv.New64a()
	h.Write([]byte(commit))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return int(h.Sum64() % 10000)
}

// affinityKey returns the value of r's AffinityCookie, or "".
func affinityKey(r *http.Request) string {
	if len(r.Header["Cookie"]) == 0 {
		return ""
	}
	ck, err := r.Cookie(AffinityCookie)
	if err != nil {
		return ""
	}
	return ck.Value
}

func newAffinityKey() string {
	var b [affinityKeyLen / 2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// validAffinityKey reports whether k is a key newAffinityKey could have made (lower-case
// hex of affinityKeyLen digits), without allocating.
func validAffinityKey(k string) bool {
	if len(k) != affinityKeyLen {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
