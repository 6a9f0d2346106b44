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
