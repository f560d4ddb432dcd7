package backup

import (
	"crypto/elliptic"
	"encoding/json"
)

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func newCurve() elliptic.Curve { return elliptic.P256() }
