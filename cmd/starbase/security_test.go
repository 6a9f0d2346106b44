package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/api"
	"github.com/starbase/starbase/client"
	"github.com/starbase/starbase/server"
	"github.com/starbase/starbase/server/servertest"
)

const secAdminToken = "cli-admin-secret-0001"

func secMustRun(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("starbase %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

func TestTokenCmd_CreatePrintsTheSecretOnceListShowsNoSecretRevokeIsImmediate(t *testing.T) {
	url := servertest.Start(t, server.Config{}).URL
	as := func(token string, args ...string) []string {
		return append(args, "--server", url, "--token", token)
	}
	out, errOut, err := runCLI(t, as(servertest.AdminToken, "token", "create", "--name", "ana", "--role", "developer")...)
	if err != nil {
		t.Fatal(err, errOut)
	}
	secret := strings.TrimSpace(out)
	if strings.Count(out, "\n") != 1 || !strings.HasPrefix(secret, "sb_") {
		t.Fatalf("token create printed %q, want the secret alone on one line", out)
	}
	if !strings.Contains(errOut, "shown above, and only now") {
		t.Errorf("token create said %q on stderr, want the warning that the secret is shown once", errOut)
	}
	list := secMustRun(t, as(servertest.AdminToken, "token", "list")...)
	if !strings.Contains(list, "ana") || !strings.Contains(list, "developer") || strings.Contains(list, secret) {
		t.Errorf("token list = %q, want ana as developer and no secret", list)
	}
	var id string
	for _, line := range strings.Split(list, "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[1] == "ana" {
			id = f[0]
		}
	}
	// The new token works, and cannot manage tokens.
	secMustRun(t, as(secret, "log")...)
	if _, _, err := runCLI(t, as(secret, "token", "list")...); err == nil || !strings.Contains(err.Error(), "admin role") {
		t.Errorf("a developer listing tokens: %v, want a refusal naming the admin role", err)
	}
	if out := secMustRun(t, as(servertest.AdminToken, "token", "revoke", id)...); !strings.Contains(out, "revoked token "+id) {
		t.Errorf("token revoke printed %q", out)
	}
	if _, _, err := runCLI(t, as(secret, "log")...); err == nil || !strings.Contains(err.Error(), "unauthenticated") {
		t.Errorf("the revoked token still works: %v", err)
	}
	if _, _, err := runCLI(t, as(servertest.AdminToken, "token", "create", "--name", "bob")...); err == nil {
		t.Error("token create without --role succeeded")
	}
}

func TestAuditCmd_ShowsChangesWithTheirPathsAndRefusals(t *testing.T) {
	n := servertest.Start(t, server.Config{})
	url := n.URL
	if _, err := n.Client.Push(context.Background(), api.PushRequest{Files: map[string][]byte{"app.star": []byte("X = 1\nroutes = {}\n"), "lib/a.star": []byte("A = 1\n")}}); err != nil {
		t.Fatal(err)
	}
	runCLI(t, "log", "--server", url, "--token", "sb_not-a-real-token-at-all")
	out := secMustRun(t, "audit", "-n", "5", "--server", url, "--token", servertest.AdminToken)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "REV") {
		t.Fatalf("audit printed %q, want a header and two records", out)
	}
	if !strings.Contains(lines[1], "refused") || !strings.Contains(lines[1], "401 GET /-/api/log") {
		t.Errorf("newest record %q, want the refused log", lines[1])
	}
	if !strings.Contains(lines[2], "commit") || !strings.Contains(lines[2], "admin") ||
		!strings.Contains(lines[2], "added app.star") || !strings.Contains(lines[2], "added lib/a.star") {
		t.Errorf("older record %q, want admin's commit with its paths", lines[2])
	}
	var recs []api.AuditRecord
	if err := json.Unmarshal([]byte(secMustRun(t, "audit", "--json", "--server", url, "--token", servertest.AdminToken)), &recs); err != nil || len(recs) != 2 {
		t.Errorf("audit --json = %v, %v; want two records", recs, err)
	}
}

func TestProtectCmd_ProtectsListsAndUnprotects(t *testing.T) {
	url := servertest.Start(t, server.Config{}).URL
	flags := []string{"--server", url, "--token", servertest.AdminToken}
	if out := secMustRun(t, append([]string{"protect"}, flags...)...); out != "no protected refs\n" {
		t.Errorf("protect with no refs = %q", out)
	}
	if out := secMustRun(t, append([]string{"protect", "main", "canary"}, flags...)...); out != "canary\nmain\n" {
		t.Errorf("protect main canary = %q", out)
	}
	if out := secMustRun(t, append([]string{"unprotect", "canary"}, flags...)...); out != "main\n" {
		t.Errorf("unprotect canary = %q", out)
	}
	if _, _, err := runCLI(t, append([]string{"protect", "../x"}, flags...)...); err == nil {
		t.Error("protecting an invalid ref name succeeded")
	}
}

// nonLoopbackIP returns an IPv4 address of this host that is not loopback, or "".
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && !ipn.IP.IsLoopback() && ipn.IP.To4() != nil {
			return ipn.IP.String()
		}
	}
	return ""
}

func TestCLI_RefusesToSendATokenOverPlainHTTPToAnotherHostUnlessInsecure(t *testing.T) {
	ip := nonLoopbackIP(t)
	if ip == "" {
		ip = "192.0.2.1" // TEST-NET: refused before any connection, which is what is tested first
	}
	ln, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Fatalf("listening on %s: %v", ip, err)
	}
	// A plain-HTTP server on a non-loopback address that records what it receives.
	got := make(chan string, 10)
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Get("Authorization")
		w.Header().Set(api.MarkerHeader, api.MarkerValue)
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
	})}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	url := "http://" + ln.Addr().String()

	_, _, err = runCLI(t, "log", "--server", url, "--token", secAdminToken)
	if err == nil || !strings.Contains(err.Error(), "refusing to send a token over plain HTTP") {
		t.Fatalf("log over plain HTTP to %s: %v, want a refusal", ip, err)
	}
	select {
	case h := <-got:
		t.Fatalf("the server received a request (Authorization %q) despite the refusal", h)
	default:
	}
	if _, _, err := runCLI(t, "log", "--server", url, "--token", secAdminToken, "--insecure"); err != nil {
		t.Fatalf("log --insecure: %v", err)
	}
	if h := <-got; h != "Bearer "+secAdminToken {
		t.Errorf("with --insecure the server received Authorization %q", h)
	}
	// Loopback needs no --insecure; without a token nothing is refused either.
	if _, _, err := runCLI(t, "log", "--server", servertest.Start(t, server.Config{}).URL, "--token", servertest.AdminToken); err != nil {
		t.Errorf("log over plain HTTP to loopback: %v", err)
	}
}

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key, and returns their
// files and a pool that trusts the certificate.
func selfSigned(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "starbase test"},
		NotBefore:             time.Now().Add(-time.Minute),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// serveInProcess runs `starbase serve ARGS` until the test ends and returns the URL it
// announces.
func serveInProcess(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	cmd := newRootCmd()
	cmd.SetArgs(append([]string{"serve", "--addr", "127.0.0.1:0", "--data", t.TempDir()}, args...))
	cmd.SetOut(pw)
	cmd.SetErr(io.Discard)
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve ended with %v", err)
		}
	})
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			if u, ok := strings.CutPrefix(sc.Text(), "starbase serving on "); ok {
				urls <- strings.Fields(u)[0]
			}
		}
	}()
	select {
	case u := <-urls:
		return u
	case err := <-done:
		t.Fatalf("serve ended before serving: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not announce its address")
	}
	return ""
}

func TestServe_TLSEndToEnd(t *testing.T) {
	certFile, keyFile, pool := selfSigned(t)
	t.Setenv("STARBASE_ADMIN_TOKEN", secAdminToken)
	url := serveInProcess(t, "--tls-cert", certFile, "--tls-key", keyFile)
	if !strings.HasPrefix(url, "https://127.0.0.1:") {
		t.Fatalf("serve announced %s, want https://127.0.0.1:PORT", url)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	c, err := client.New(url, client.Options{Token: secAdminToken, HTTP: hc})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	res, err := c.Push(ctx, api.PushRequest{Files: map[string][]byte{"app.star": []byte("def handle(req):\n    return 'over tls'\n")}})
	if err != nil {
		t.Fatalf("push over TLS: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := hc.Get(url + "/")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) == "over tls" {
			if resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 || resp.Header.Get("Strict-Transport-Security") == "" {
				t.Errorf("app answer over TLS: version %v, HSTS %q", resp.TLS, resp.Header.Get("Strict-Transport-Security"))
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the app still answers %q, want the pushed commit %s", body, res.Commit)
		}
		time.Sleep(10 * time.Millisecond)
	}

	// A session made over TLS has a Secure, host-only cookie.
	resp, err := hc.Post(url+"/-/api/login", "application/json", strings.NewReader(`{"token": "`+secAdminToken+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if cs := resp.Cookies(); len(cs) != 1 || !cs[0].Secure || cs[0].Name != "__Host-starbase-session" {
		t.Errorf("login over TLS set %v, want a Secure __Host- cookie", cs)
	}

	// Plain HTTP to the TLS port gets nothing; a client that does not trust the certificate
	// does not connect.
	plain := strings.Replace(url, "https://", "http://", 1)
	if resp, err := http.Get(plain + "/-/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP to the TLS port was served")
		}
	}
	untrusting, err := client.New(url, client.Options{Token: secAdminToken})
	if err != nil {
		t.Fatal(err)
	}
	var uerr x509.UnknownAuthorityError
	if _, err := untrusting.Log(ctx, 1); !errors.As(err, &uerr) {
		t.Errorf("a client that does not trust the certificate: %v, want an unknown authority error", err)
	}
}

func TestServe_RefusesHalfOrBadTLSFlags(t *testing.T) {
	certFile, keyFile, _ := selfSigned(t)
	for _, args := range [][]string{
		{"--tls-cert", certFile},
		{"--tls-key", keyFile},
		{"--tls-cert", keyFile, "--tls-key", certFile},
		{"--tls-cert", filepath.Join(t.TempDir(), "missing.pem"), "--tls-key", keyFile},
	} {
		data := t.TempDir()
		_, _, err := runCLI(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", data}, args...)...)
		if err == nil || !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "TLS") {
			t.Errorf("serve %v: %v, want a TLS error", args, err)
		}
		if _, err := os.Stat(filepath.Join(data, "starbase.db")); err == nil {
			t.Errorf("serve %v opened the store before checking TLS", args)
		}
	}
}
