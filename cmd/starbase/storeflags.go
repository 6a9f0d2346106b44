package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/spf13/pflag"

	"github.com/starbase/starbase/objects"
	"github.com/starbase/starbase/objects/postgres"
	"github.com/starbase/starbase/objects/sqlite"
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

// dataURL selects the data tier of app requests (their objects), from --data-url:
//
//	""                       the default: SQLite in the data directory, or, with --etcd,
//	                         the objects in etcd (kv) as before; clusters should use PostgreSQL
//	sqlite                   SQLite in DATA/data.sqlite
//	sqlite:PATH              SQLite in the file PATH
//	postgres://... (or postgresql://...)  PostgreSQL, shared by every node of a cluster
//	kv                       the objects in the control plane's store (bolt or etcd), under data/
//
// This is the one place a data tier is chosen.
func openDataTier(ctx context.Context, url string, etcdOn bool, dataDir string, st store.Store, logger *slog.Logger) (objects.Engine, error) {
	switch {
	case url == "" && etcdOn, url == "kv":
		return objects.KV(st), nil
	case url == "", url == "sqlite":
		return sqlite.Open(ctx, filepath.Join(dataDir, "data.sqlite"), logger)
	case strings.HasPrefix(url, "sqlite:"):
		return sqlite.Open(ctx, strings.TrimPrefix(url, "sqlite:"), logger)
	case strings.HasPrefix(url, "postgres://"), strings.HasPrefix(url, "postgresql://"):
		return postgres.Open(ctx, url, logger)
	}
	return nil, fmt.Errorf("--data-url %q: want sqlite, sqlite:PATH, postgres://USER@HOST:PORT/DB or kv", url)
}

// openNode opens what a node serves from: the store selected by sf and the data tier of
// dataURL (over that store for the kv tier), as serve and restore open them. close
// releases both, the data tier first.
func openNode(ctx context.Context, sf *storeFlags, dataDir, dataURL string, logger *slog.Logger) (st store.Store, data objects.Engine, close func(), err error) {
	st, err = sf.open(ctx, dataDir)
	if err != nil {
		return nil, nil, nil, err
	}
	data, err = openDataTier(ctx, dataURL, sf.etcd != "", dataDir, st, logger)
	if err != nil {
		st.Close()
		return nil, nil, nil, fmt.Errorf("opening the data tier: %w", err)
	}
	return st, data, func() {
		data.Close()
		st.Close()
	}, nil
}
