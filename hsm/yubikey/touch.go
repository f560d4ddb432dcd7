package yubikey

import (
	"time"

	"github.com/go-piv/piv-go/v2/piv"
)

// TouchCache is how long a YubiKey honours a touch for keys whose touch
// policy is "cached": 15 seconds after the touch. A batch signed with such
// a key asks one touch per window, however many signatures fall into it;
// with "always", one touch per signature.
const TouchCache = 15 * time.Second

// touchDue says whether a signature at now with a key of this policy makes
// the YubiKey wait for a touch, so that keyrite asks for one, and notes
// the touch. keyrite times the window from its own prompt, which comes
// before the touch: it may ask once when the device would not wait, never
// the other way round. Any touch renews the cache, as on the device.
func (d *device) touchDue(p piv.TouchPolicy, now time.Time) bool {
	switch p {
	case piv.TouchPolicyAlways:
	case piv.TouchPolicyCached:
		if !d.touched.IsZero() && now.Sub(d.touched) < TouchCache {
			return false
		}
	default:
		return false
	}
	d.touched = now
	return true
}
