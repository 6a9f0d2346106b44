package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
	"github.com/starbase/starbase/store"
)

// The security tests attack a node on a real bolt file over real loopback HTTP.

// secNode is a node under attack.
type secNode struct{ *servertest.Node }

// startSecNode starts a node with cfg (a fresh bolt store unless cfg.Store is set). tls
// serves HTTPS with httptest's certificate.
func startSecNode(t *testing.T, cfg server.Config, tls bool) *secNode {
	t.Helper()
	if tls {
		return &secNode{servertest.StartTLS(t, cfg)}
	}
	return &secNode{servertest.Start(t, cfg)}
}

// token creates a token through the API and returns its secret and id.
func (n *secNode) token(t *testing.T, name string, role auth.Role) (secret, id string) {
	t.Helper()
	tok, err := n.Client.CreateToken(context.Background(), name, string(role))
	if err != nil {
		t.Fatalf("creating token %s: %v", name, err)
	}
	return tok.Secret, tok.ID
}

// secRequest is one HTTP request of an attack.
type secRequest struct {
	method, path string
	body         string
	header       http.Header
	cookies      []*http.Cookie
	// client, when set, sends the request (to choose the source address).
	client *http.Client
	// base, when set, is the URL the request goes to instead of the node's (its editor
	// origin, servertest.Node.ServeEditor).
	base string
}

// secResponse is what came back.
type secResponse struct {
	status int
	header http.Header
	body   string
	resp   *http.Response
}

func (n *secNode) do(t *testing.T, req secRequest) secResponse {
	t.Helper()
	var body io.Reader
	if req.body != "" {
		body = strings.NewReader(req.body)
	}
	base := n.URL
	if req.base != "" {
		base = req.base
	}
	hr, err := http.NewRequest(req.method, base+req.path, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range req.header {
		for _, v := range vs {
			hr.Header.Add(k, v)
		}
	}
	for _, c := range req.cookies {
		hr.AddCookie(c)
	}
	hc := req.client
	if hc == nil {
		hc = n.HTTP
	}
	resp, b := servertest.Do(t, hc, hr)
	return secResponse{status: resp.StatusCode, header: resp.Header, body: b, resp: resp}
}

// bearer returns the header of a bearer token.
func bearer(secret string) http.Header {
	return http.Header{"Authorization": {"Bearer " + secret}}
}

// revision returns the store's current revision.
func (n *secNode) revision(t *testing.T) int64 {
	t.Helper()
	rev, err := n.Store.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// state returns every key and value of the store at rev, the audit log aside.
func (n *secNode) state(t *testing.T, rev int64) map[string]string {
	t.Helper()
	res, err := n.Store.Range(context.Background(), "", store.RangeOptions{Revision: rev})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, kv := range res.KVs {
		if !strings.HasPrefix(kv.Key, auth.AuditPrefix) {
			out[kv.Key] = string(kv.Value)
		}
	}
	return out
}

// audit returns the audit log, newest first.
func (n *secNode) audit(t *testing.T) []auth.AuditRecord {
	t.Helper()
	recs, _, err := auth.ReadAudit(context.Background(), n.Store, auth.AuditQuery{Limit: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

// clientFrom returns an HTTP client whose connections come from the loopback address ip.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}}
}

func jsonBody(t *testing.T, v any) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.NewEncoder(&b).Encode(v); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
