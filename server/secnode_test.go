package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/auth"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
)

// The security tests attack a node on a real bolt file over real loopback HTTP.

const secAdmin = "sec-admin-secret-0001"

// secNode is a node under attack.
type secNode struct {
	srv   *server.Server
	st    store.Store
	url   string
	http  *http.Client
	admin *client.Client
}

// startSecNode starts a node with cfg (a fresh bolt store unless cfg.Store is set) whose
// first admin token is secAdmin. tls serves HTTPS with httptest's certificate.
func startSecNode(t *testing.T, cfg server.Config, tls bool) *secNode {
	t.Helper()
	if cfg.Store == nil {
		st, err := bolt.Open(filepath.Join(t.TempDir(), "starbase.db"), bolt.Options{})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		cfg.Store = st
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, _, err := srv.Tokens().Bootstrap(ctx, secAdmin); err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(ctx); err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewUnstartedServer(srv)
	if tls {
		hs.StartTLS()
	} else {
		hs.Start()
	}
	t.Cleanup(func() {
		hs.Close()
		srv.Close()
	})
	hc := hs.Client()
	admin, err := client.New(hs.URL, client.Options{Token: secAdmin, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	return &secNode{srv: srv, st: cfg.Store, url: hs.URL, http: hc, admin: admin}
}

// token creates a token through the API and returns its secret and id.
func (n *secNode) token(t *testing.T, name string, role auth.Role) (secret, id string) {
	t.Helper()
	tok, err := n.admin.CreateToken(context.Background(), name, string(role))
	if err != nil {
		t.Fatalf("creating token %s: %v", name, err)
	}
	return tok.Secret, tok.ID
}

// push pushes files as the admin on top of whatever main is.
func (n *secNode) push(t *testing.T, files map[string]string) api.CommitResult {
	t.Helper()
	b := map[string][]byte{}
	for k, v := range files {
		b[k] = []byte(v)
	}
	res, err := n.admin.Push(context.Background(), api.PushRequest{Files: b, Force: true})
	if err != nil {
		t.Fatalf("push: %v", err)
	}
	return res
}

// secRequest is one HTTP request of an attack.
type secRequest struct {
	method, path string
	body         string
	header       http.Header
	cookies      []*http.Cookie
	// client, when set, sends the request (to choose the source address).
	client *http.Client
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
	hr, err := http.NewRequest(req.method, n.url+req.path, body)
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
		hc = n.http
	}
	resp, err := hc.Do(hr)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return secResponse{status: resp.StatusCode, header: resp.Header, body: string(b), resp: resp}
}

// bearer returns the header of a bearer token.
func bearer(secret string) http.Header {
	return http.Header{"Authorization": {"Bearer " + secret}}
}

// revision returns the store's current revision.
func (n *secNode) revision(t *testing.T) int64 {
	t.Helper()
	rev, err := n.st.Revision(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return rev
}

// state returns every key and value of the store at rev, the audit log aside.
func (n *secNode) state(t *testing.T, rev int64) map[string]string {
	t.Helper()
	res, err := n.st.Range(context.Background(), "", store.RangeOptions{Revision: rev})
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
	recs, _, err := auth.ReadAudit(context.Background(), n.st, auth.AuditQuery{Limit: 1 << 20})
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
