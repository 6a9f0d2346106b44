package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/backup"
	"github.com/starbase/starbase/store"
)

// BackupContentType is the media type of a backup answered by GET /-/api/backup.
const BackupContentType = "application/vnd.starbase.backup"

// apiBackup answers a backup (package backup) of the store and the data tier, taken now
// while the node serves. Its audit record is committed first, so the backup holds it. An
// error before the first byte is returned (answered as an error); one later cuts the answer
// short, which the reader of the backup refuses (it has no trailer).
func (s *Server) apiBackup(w http.ResponseWriter, r *http.Request) error {
	who := principalOf(r)
	rec := s.newAuditRecord(r, who, auth.ActionBackup)
	rec.Detail = "data tier " + s.cfg.Data.Name()
	if _, err := s.cfg.Store.Commit(r.Context(), nil, []store.Op{auth.AuditOp(rec)}); err != nil {
		return fmt.Errorf("recording the backup in the audit log: %w", err)
	}
	start := time.Now()
	out := &startedWriter{w: w}
	sum, err := backup.Take(r.Context(), out, backup.Source{
		Store:   s.cfg.Store,
		Data:    s.cfg.Data,
		Exclude: []string{NodePrefix},
		Node:    s.cfg.Node,
	})
	if err != nil {
		s.log.Error("backup failed", "by", who.tok.Name, "remote", r.RemoteAddr, "written", out.n, "err", err)
		if out.n == 0 {
			return err
		}
		return nil // the answer is cut short: no trailer, which every reader of a backup refuses
	}
	s.log.Info("backup taken", "by", who.tok.Name, "remote", r.RemoteAddr, "revision", sum.Header.Revision,
		"keys", sum.Trailer.Keys, "objects", sum.Trailer.Objects, "bytes", sum.Bytes, "took", time.Since(start).String())
	return nil
}

// startedWriter sets the answer's headers on the first write and counts what was written.
type startedWriter struct {
	w http.ResponseWriter
	n int64
}

func (sw *startedWriter) Write(p []byte) (int, error) {
	if sw.n == 0 {
		sw.w.Header().Set("Content-Type", BackupContentType)
		sw.w.Header().Set("Content-Disposition", `attachment; filename="starbase.backup"`)
		sw.w.WriteHeader(http.StatusOK)
	}
	n, err := sw.w.Write(p)
	sw.n += int64(n)
	return n, err
}
