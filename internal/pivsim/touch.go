package pivsim

import "time"

// TouchCacheWindow is how long a YubiKey remembers a touch for keys whose
// touch policy is "cached": 15 seconds after the last touch, as Yubico
// documents for PIV. A batch signing with such a key needs one touch per
// window, however many signatures fall into it.
const TouchCacheWindow = 15 * time.Second
