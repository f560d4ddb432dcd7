package yubikey

import (
	"testing"
	"time"

	"github.com/go-piv/piv-go/v2/piv"
)

// TestTouchDue: "always" asks every time; "cached" asks again only once
// the 15-second window since the last touch has passed, and any touch
// renews the window; "never" never asks.
func TestTouchDue(t *testing.T) {
	d := &device{}
	t0 := time.Unix(1000, 0)
	steps := []struct {
		p    piv.TouchPolicy
		at   time.Duration
		want bool
	}{
		{piv.TouchPolicyCached, 0, true},
		{piv.TouchPolicyCached, 14 * time.Second, false},
		{piv.TouchPolicyNever, 20 * time.Second, false},
		{piv.TouchPolicyCached, 15 * time.Second, true},
		{piv.TouchPolicyAlways, 16 * time.Second, true},
		{piv.TouchPolicyAlways, 17 * time.Second, true},
		{piv.TouchPolicyCached, 31 * time.Second, false}, // the always touch at 17 s renewed it
		{piv.TouchPolicyCached, 32 * time.Second, true},
	}
	for i, s := range steps {
		if got := d.touchDue(s.p, t0.Add(s.at)); got != s.want {
			t.Errorf("step %d (%s at %s): touch due %v, want %v", i, touchPolicyName(s.p), s.at, got, s.want)
		}
	}
}
