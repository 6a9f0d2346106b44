package server

import (
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"
)

// accessLogged draws whether this request goes to the access log (Config.AccessLog).
func (s *Server) accessLogged() bool {
	rate := s.cfg.AccessLog
	return rate >= 1 || (rate > 0 && rand.Float64() < rate)
}

// sampleAccess returns the writer to answer r through and, when the access log samples r
// (Config.AccessLog), the statusWriter that records the answer (then that same writer),
// which the caller hands to logAccess once the answer is done; nil when r is not logged.
// Both origins (ServeHTTP, Editor) start with it.
func (s *Server) sampleAccess(w http.ResponseWriter) (http.ResponseWriter, *statusWriter) {
	if !s.accessLogged() {
		return w, nil
	}
	sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
	return sw, sw
}

// logAccess writes the access log record of a request answered through sw.
func (s *Server) logAccess(sw *statusWriter, r *http.Request, start time.Time) {
	route := sw.route
	if route == "" {
		route = clip(r.URL.Path, 256) // a platform path
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "request",
		slog.String("request_id", sw.requestID),
		slog.String("method", clip(r.Method, maxAuditMethod)),
		slog.String("route", route),
		slog.Int("status", sw.status),
		slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000),
		slog.String("commit", sw.Header().Get("Starbase-Commit")),
		slog.String("remote", r.RemoteAddr),
	)
}
