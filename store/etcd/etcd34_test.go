package etcd_test

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/starbase/starbase/store"
	"github.com/starbase/starbase/store/etcd/etcdtest"
	"github.com/starbase/starbase/store/storetest"
)

// TestStore_PassesConformanceOnEtcd34 runs the suite against the oldest etcd server the
// backend supports: Debian's etcd-server 3.4, which ./test.sh installs, started here as a
// separate process on loopback.
func TestStore_PassesConformanceOnEtcd34(t *testing.T) {
	endpoint := etcdtest.StartProcess(t, etcdtest.Options{})
	out, err := exec.Command("etcd", "--version").Output()
	if err != nil {
		t.Fatalf("etcd --version: %v", err)
	}
	t.Logf("server: %s", strings.SplitN(string(out), "\n", 2)[0])
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, []string{endpoint}, nil)
	})
}
