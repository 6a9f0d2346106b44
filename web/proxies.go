package web

import (
	"fmt"
	"net/http"
	"net/netip"
	"strings"
)

// Proxies are the reverse proxies a node trusts to say who their client is (serve
// --trusted-proxies). A request from one of them may carry X-Forwarded-For,
// X-Forwarded-Proto and X-Forwarded-Host; from anyone else these headers are ignored, since
// any client can send them. The zero value trusts no one. It is safe for concurrent use.
type Proxies struct {
	prefixes []netip.Prefix
}

// ParseProxies returns the proxies listed in cidrs, each an address ("10.0.0.7") or a
// network in CIDR notation ("10.0.0.0/8", "fd00::/8").
func ParseProxies(cidrs []string) (Proxies, error) {
	var p Proxies
	for _, s := range cidrs {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return Proxies{}, fmt.Errorf("trusted proxy %q is neither an IP address nor a CIDR network (10.0.0.0/8)", s)
			}
			p.prefixes = append(p.prefixes, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
			continue
		}
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return Proxies{}, fmt.Errorf("trusted proxy %q is not a CIDR network (10.0.0.0/8, fd00::/8): %v", s, err)
		}
		if pfx.Addr().Is4In6() {
			pfx = netip.PrefixFrom(pfx.Addr().Unmap(), max(pfx.Bits()-96, 0))
		}
		p.prefixes = append(p.prefixes, pfx.Masked())
	}
	return p, nil
}

// trusts reports whether a is one of the proxies.
func (p Proxies) trusts(a netip.Addr) bool {
	for _, pfx := range p.prefixes {
		if pfx.Contains(a) {
			return true
		}
	}
	return false
}

// origin is where a request came from and what it asked for, as its client sent it:
// req.remote_addr, req.scheme and req.host.
type origin struct {
	// Addr is the client's IP address. From a trusted proxy, it is the right-most address
	// of X-Forwarded-For that is not itself a trusted proxy (the addresses to its left were
	// written by the client, which can write anything); otherwise the peer's address.
	Addr string
	// Scheme is "https" or "http": the connection's, or a trusted proxy's
	// X-Forwarded-Proto.
	Scheme string
	// Host is the Host header, or a trusted proxy's X-Forwarded-Host.
	Host string
}

// originOf returns the origin of r as the proxies p make it out.
func (p Proxies) originOf(r *http.Request) origin {
	o := origin{Scheme: "http", Host: r.Host}
	if r.TLS != nil {
		o.Scheme = "https"
	}
	peer, err := netip.ParseAddrPort(r.RemoteAddr)
	if err != nil {
		o.Addr = r.RemoteAddr // not from a network connection (a test's request)
		return o
	}
	addr := peer.Addr().Unmap()
	o.Addr = addr.String()
	if !p.trusts(addr) {
		return o
	}
	hops := forwardedValues(r.Header["X-Forwarded-For"])
	for i := len(hops) - 1; i >= 0; i-- {
		hop, ok := parseHop(hops[i])
		if !ok {
			break // garbage: nothing to its left can be believed
		}
		o.Addr = hop.String()
		if !p.trusts(hop) {
			break
		}
	}
	// The nearest proxy writes the last value of each.
	if proto := lastValue(r.Header["X-Forwarded-Proto"]); proto == "http" || proto == "https" {
		o.Scheme = proto
	}
	if host := lastValue(r.Header["X-Forwarded-Host"]); validHost(host) {
		o.Host = host
	}
	return o
}

// forwardedValues returns the comma-separated values of every line of a header, in order.
func forwardedValues(lines []string) []string {
	var out []string
	for _, line := range lines {
		for v := range strings.SplitSeq(line, ",") {
			out = append(out, strings.TrimSpace(v))
		}
	}
	return out
}

func lastValue(lines []string) string {
	vs := forwardedValues(lines)
	if len(vs) == 0 {
		return ""
	}
	return strings.ToLower(vs[len(vs)-1])
}

// parseHop parses an address of X-Forwarded-For: an IP, with a port or not ("1.2.3.4",
// "1.2.3.4:5678", "[::1]:80").
func parseHop(s string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return a.Unmap(), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), true
	}
	return netip.Addr{}, false
}

// validHost reports whether h can be a Host header: a name or address, with an optional
// port, and nothing that would change a URL built from it.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := range len(h) {
		c := h[i]
		ok := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("-.:[]_", c) >= 0
		if !ok {
			return false
		}
	}
	return true
}
