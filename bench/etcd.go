package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
)

// runEtcd is the child mode "etcd": a three-member etcd cluster on loopback, with etcd's
// default timing and fsync (as a deployment would run it), in directories under childDir.
// With childFast set (smoke runs), elections are fast and writes are not synced.
// It prints childReady and the members' client addresses, comma-separated HOST:PORT as
// `starbase serve --etcd` takes them, and runs until ctx ends.
func runEtcd(ctx context.Context) error {
	dir := os.Getenv(childDir)
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "starbase-bench-etcd-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}
	const members = 3
	addrs := make([]string, 2*members)
	for i := range addrs {
		a, err := freeAddr()
		if err != nil {
			return err
		}
		addrs[i] = a
	}
	var initial, clients []string
	for i := range members {
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i, addrs[2*i+1]))
		clients = append(clients, addrs[2*i])
	}
	var servers []*embed.Etcd
	defer func() {
		for _, s := range servers {
			s.Close()
		}
	}()
	for i := range members {
		cfg := embed.NewConfig()
		cfg.Name = fmt.Sprintf("m%d", i)
		cfg.Dir = filepath.Join(dir, cfg.Name)
		client := url.URL{Scheme: "http", Host: addrs[2*i]}
		peer := url.URL{Scheme: "http", Host: addrs[2*i+1]}
		cfg.ListenClientUrls, cfg.AdvertiseClientUrls = []url.URL{client}, []url.URL{client}
		cfg.ListenPeerUrls, cfg.AdvertisePeerUrls = []url.URL{peer}, []url.URL{peer}
		cfg.InitialCluster = strings.Join(initial, ",")
		cfg.InitialClusterToken = "starbase-bench"
		cfg.ClusterState = embed.ClusterStateFlagNew
		cfg.Logger = "zap"
		cfg.LogLevel = "error"
		cfg.LogOutputs = []string{"stderr"} // errors only: the harness shows them if the cluster fails
		if os.Getenv(childFast) != "" {
			cfg.TickMs, cfg.ElectionMs, cfg.UnsafeNoFsync = 10, 100, true
		}
		s, err := embed.StartEtcd(cfg)
		if err != nil {
			return fmt.Errorf("etcd member %s: %w", cfg.Name, err)
		}
		servers = append(servers, s)
	}
	for _, s := range servers {
		select {
		case <-s.Server.ReadyNotify():
		case err := <-s.Err():
			return err
		case <-time.After(time.Minute):
			return fmt.Errorf("etcd member %s not ready within a minute", s.Config().Name)
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	fmt.Printf("%s%s\n", childReady, strings.Join(clients, ","))
	<-ctx.Done()
	return nil
}

// errNoEtcd is returned by startCluster when `starbase serve` has no --etcd flag.
var errNoEtcd = errors.New("this `starbase serve` has no --etcd flag")

// startCluster starts a three-member etcd cluster (the child mode "etcd") and three
// starbase nodes on it, named name1 to name3, each with its own data directory. stop stops
// whatever was started, also when err is set; err is errNoEtcd, with nothing started, when
// the binary cannot serve from etcd.
func (e *env) startCluster(ctx context.Context, name string) (nodes []*proc, stop func(), err error) {
	var cluster *proc
	stop = func() {
		for _, n := range nodes {
			n.stop()
		}
		if cluster != nil {
			cluster.stop()
		}
	}
	help, err := exec.CommandContext(ctx, e.starbin, "serve", "--help").CombinedOutput()
	if err != nil {
		return nil, stop, fmt.Errorf("starbase serve --help: %v\n%s", err, help)
	}
	if !strings.Contains(string(help), "--etcd") {
		return nil, stop, errNoEtcd
	}
	var fast []string
	if e.cfg.smoke {
		fast = append(fast, childFast+"=1")
	}
	// The members' ports are picked free just before etcd binds them, and another process
	// may take one first: try a few times.
	for attempt := 1; ; attempt++ {
		cluster, err = e.startChild(ctx, "etcd", "", fast...)
		if err == nil {
			break
		}
		if attempt == 3 {
			return nil, stop, err
		}
		e.logf("starting etcd failed, trying again: %v", err)
	}
	endpoints := cluster.url // the child prints its client addresses, comma-separated
	for i := range 3 {
		data, err := e.dir("etcd-" + name)
		if err != nil {
			return nodes, stop, err
		}
		n, err := e.startStarbase(ctx, fmt.Sprintf("%s%d", name, i+1), data, "127.0.0.1:0", "--etcd", endpoints)
		if err != nil {
			return nodes, stop, err
		}
		nodes = append(nodes, n)
	}
	return nodes, stop, nil
}
