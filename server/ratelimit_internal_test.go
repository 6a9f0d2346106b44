package server

import (
	"fmt"
	"testing"
	"time"
)

// A source that was refused stays limited however many other addresses an attacker
// rotates through, the table stays bounded, and the addresses it has no room for share
// one bucket.
func TestLimiter_AddressRotationCannotEvictARefusedSource(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(3, time.Minute)
	l.maxBuckets = 100
	l.now = func() time.Time { return clock }
	for i := range 3 {
		if ok, _ := l.take("victim"); !ok {
			t.Fatalf("attempt %d of the victim source refused", i)
		}
	}
	if ok, _ := l.take("victim"); ok {
		t.Fatal("a 4th attempt within the burst of 3 was let through")
	}
	// 10,000 other addresses, one refusal each.
	let := 0
	for i := range 10000 {
		if ok, _ := l.take(fmt.Sprintf("10.0.%d.%d", i/256, i%256)); ok {
			let++
		}
	}
	if len(l.buckets) > l.maxBuckets || l.byFull.Len() != len(l.buckets) {
		t.Fatalf("the table holds %d buckets (heap %d), its bound is %d", len(l.buckets), l.byFull.Len(), l.maxBuckets)
	}
	if ok, _ := l.take("victim"); ok {
		t.Fatal("address rotation made the limiter forget the refused source")
	}
	// 99 fit the table beside the victim; the 9,901 others shared the overflow's 3 tokens.
	if let != 99+3 {
		t.Errorf("%d of 10,000 rotated addresses were let through, want 99 with buckets and 3 from the shared overflow", let)
	}

	// Once buckets are full again they are forgotten (which changes nothing) and their
	// room serves new sources.
	clock = clock.Add(3 * time.Minute)
	if ok, _ := l.take("victim"); !ok {
		t.Error("the victim's bucket did not refill")
	}
	if ok, _ := l.take("newcomer"); !ok || l.buckets["newcomer"] == nil {
		t.Error("a new source got no bucket of its own after the others refilled")
	}
	if len(l.buckets) > 2 {
		t.Errorf("%d buckets kept after every other one is full again", len(l.buckets))
	}
}

func TestLimiter_RefundsGiveBackTheTokenOfTheRightBucket(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(1, time.Hour)
	l.maxBuckets = 1
	l.now = func() time.Time { return clock }
	l.take("a")
	l.refund("a") // a success costs nothing
	if ok, _ := l.take("a"); !ok {
		t.Fatal("a refunded attempt still counted")
	}
	// The table is full of a's non-full bucket: b uses the overflow, and gets its refund.
	for range 3 {
		if ok, _ := l.take("b"); !ok {
			t.Fatal("successive successes of an overflow source were refused")
		}
		l.refund("b")
	}
}
