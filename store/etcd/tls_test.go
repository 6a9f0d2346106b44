package etcd_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/starbase/starbase/store/etcd"
)

// writeCert writes a self-signed certificate and its key as PEM files in dir.
func writeCert(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "etcd test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func TestTLSConfig_LoadsClientCertificateAndCA(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	cfg, err := etcd.TLSConfig(cert, key, cert)
	if err != nil {
		t.Fatalf("TLSConfig: %v", err)
	}
	if len(cfg.Certificates) != 1 || cfg.RootCAs == nil {
		t.Errorf("TLSConfig: got %d certificates and RootCAs %v, want 1 and a pool", len(cfg.Certificates), cfg.RootCAs)
	}

	cfg, err = etcd.TLSConfig("", "", cert)
	if err != nil || len(cfg.Certificates) != 0 || cfg.RootCAs == nil {
		t.Errorf("TLSConfig with a CA only: got (%+v, %v), want no certificate and a pool", cfg, err)
	}
}

func TestTLSConfig_ReportsBadFiles(t *testing.T) {
	dir := t.TempDir()
	cert, key := writeCert(t, dir)
	missing := filepath.Join(dir, "missing.pem")
	for _, tc := range []struct {
		name          string
		cert, key, ca string
		wantInMessage string
	}{
		{"missing CA file", "", "", missing, missing},
		{"CA file without certificates", "", "", key, key},
		{"certificate without key", cert, "", "", "key file"},
		{"missing key file", cert, missing, "", missing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := etcd.TLSConfig(tc.cert, tc.key, tc.ca)
			if err == nil || !strings.Contains(err.Error(), tc.wantInMessage) {
				t.Errorf("TLSConfig(%q, %q, %q): got %v, want an error naming %q", tc.cert, tc.key, tc.ca, err, tc.wantInMessage)
			}
		})
	}
}
