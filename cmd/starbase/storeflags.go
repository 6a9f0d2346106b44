package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/bolt"
	"github.com/starbase/starbase/store/etcd"
)

// storeFlags select the store a node serves from: the embedded bolt file in its data
// directory (the default), or an etcd cluster shared by several nodes.
type storeFlags struct {
	etcd       string
	etcdPrefix string
	etcdCert   string
	etcdKey    string
	etcdCA     string
}

func (f *storeFlags) register(fl *pflag.FlagSet) {
	fl.StringVar(&f.etcd, "etcd", "", "serve from an etcd cluster: HOST:PORT[,HOST:PORT...] (default: the embedded store in --data)")
	fl.StringVar(&f.etcdPrefix, "etcd-prefix", "/starbase/", "key prefix of this Starbase in etcd")
	fl.StringVar(&f.etcdCert, "etcd-cert", "", "client certificate (PEM) for etcd TLS")
	fl.StringVar(&f.etcdKey, "etcd-key", "", "client key (PEM) for etcd TLS")
	fl.StringVar(&f.etcdCA, "etcd-ca", "", "CA certificate (PEM) that signed the etcd servers' certificates")
}

// open opens the selected store. This is the one place a backend is chosen.
func (f *storeFlags) open(ctx context.Context, dataDir string) (store.Store, error) {
	if f.etcd == "" {
		return bolt.Open(filepath.Join(dataDir, "starbase.db"), bolt.Options{})
	}
	tlsOn := f.etcdCert != "" || f.etcdKey != "" || f.etcdCA != ""
	scheme := "http://"
	if tlsOn {
		scheme = "https://"
	}
	var endpoints []string
	for _, e := range strings.Split(f.etcd, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		if !strings.Contains(e, "://") {
			e = scheme + e
		}
		endpoints = append(endpoints, e)
	}
	if len(endpoints) == 0 {
		return nil, fmt.Errorf("--etcd %q names no endpoint: use HOST:PORT[,HOST:PORT...]", f.etcd)
	}
	cfg := etcd.Config{Endpoints: endpoints, Prefix: f.etcdPrefix}
	if tlsOn {
		tc, err := etcd.TLSConfig(f.etcdCert, f.etcdKey, f.etcdCA)
		if err != nil {
			return nil, err
		}
		cfg.TLS = tc
	}
	return etcd.Open(ctx, cfg)
}
