package main

import (
	"strings"
	"testing"

	"github.com/starbase/starbase/store/etcd/etcdtest"
)

// etcdServer starts a one-member etcd cluster of one server version for a test and returns
// the --etcd value that reaches it.
type etcdServer struct {
	name  string
	start func(t *testing.T, opts etcdtest.Options) string
}

// etcdServers are the etcd servers the operations tests run against: the newest, in process
// from Go modules, and the oldest the backend supports, Debian's etcd-server 3.4 (./test.sh
// installs it), as a process of its own.
var etcdServers = []etcdServer{
	{"etcd 3.7", func(t *testing.T, opts etcdtest.Options) string {
		return strings.Join(etcdtest.StartWith(t, 1, opts).Endpoints(), ",")
	}},
	{"etcd 3.4", func(t *testing.T, opts etcdtest.Options) string {
		return etcdtest.StartProcess(t, opts)
	}},
}
