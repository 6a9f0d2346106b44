package server

import "github.com/starbase/starbase/auth"

// APIRoutes returns the pattern of every API endpoint and the least role it needs ("" for
// the login), for the security tests to attack each one.
func APIRoutes(s *Server) map[string]auth.Role {
	out := map[string]auth.Role{}
	for _, rt := range s.apiRoutes(newGuard(s)) {
		out[rt.pattern] = rt.role
	}
	return out
}
