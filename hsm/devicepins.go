package hsm

import (
	"context"
	"sync"
)

// devicePINs names the device in every PIN request one opened device
// makes (PINRequest.DeviceURI): the URI it was opened with until it is
// open, then the URI it describes itself with.
type devicePINs struct {
	src PINSource
	mu  sync.Mutex
	uri string
}

func (p *devicePINs) opened(b Backend) {
	uri := b.Info().URI
	p.mu.Lock()
	defer p.mu.Unlock()
	if uri != "" {
		p.uri = uri
	}
}

// PIN implements PINSource.
func (p *devicePINs) PIN(ctx context.Context, req PINRequest) ([]byte, error) {
	if req.DeviceURI == "" {
		p.mu.Lock()
		req.DeviceURI = p.uri
		p.mu.Unlock()
	}
	return p.src.PIN(ctx, req)
}

// Selects says whether a device selector (a device URI, possibly with
// fewer attributes, e.g. pkcs11:token=ceremony) names the device dev: the
// same scheme, and every path attribute of the selector equal in dev. Key
// attributes (object, id, slot) of the selector are ignored.
func (u *URI) Selects(dev *URI) bool {
	if u == nil || dev == nil || u.Scheme != dev.Scheme {
		return false
	}
	for _, a := range u.Without("object", "id", "slot").Path {
		if !dev.Has(a.Name) || dev.Get(a.Name) != a.Value {
			return false
		}
	}
	return true
}
