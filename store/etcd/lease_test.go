package etcd_test

import (
	"context"
	"testing"
	"time"

	"github.com/starbase/starbase/store/etcd/etcdtest"
)

func TestEphemeral_LivesWithItsOwnerOnly(t *testing.T) {
	c := etcdtest.Start(t, 1)
	owner := open(t, c.Endpoints(), nil)
	reader := open(t, c.Endpoints(), nil)
	ctx := context.Background()

	e, err := owner.PutEphemeral(ctx, "nodes/a", []byte("v1"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Update(ctx, []byte("v2")); err != nil {
		t.Fatal(err)
	}
	kv, _, err := reader.Get(ctx, "nodes/a", 0)
	if err != nil || kv == nil || string(kv.Value) != "v2" {
		t.Fatalf("Get = %v, %v; want v2", kv, err)
	}
	// Outliving the TTL several times over proves the keep-alive renews it.
	time.Sleep(2500 * time.Millisecond)
	if kv, _, _ := reader.Get(ctx, "nodes/a", 0); kv == nil {
		t.Fatal("the ephemeral key expired while its owner kept it alive")
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if kv, _, _ := reader.Get(ctx, "nodes/a", 0); kv != nil {
		t.Fatalf("the key survived Close: %q", kv.Value)
	}
}

func TestEphemeral_DisappearsWhenItsOwnerDies(t *testing.T) {
	c := etcdtest.Start(t, 1)
	reader := open(t, c.Endpoints(), nil)
	owner := open(t, c.Endpoints(), nil)
	ctx := context.Background()
	if _, err := owner.PutEphemeral(ctx, "nodes/b", []byte("v"), time.Second); err != nil {
		t.Fatal(err)
	}
	owner.Close() // the process stops renewing without revoking: as if it died
	deadline := time.Now().Add(10 * time.Second)
	for {
		kv, _, err := reader.Get(ctx, "nodes/b", 0)
		if err != nil {
			t.Fatal(err)
		}
		if kv == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatal("the key of a dead owner is still there after 10s (ttl 1s)")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
