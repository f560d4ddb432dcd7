package bundle

import "github.com/keyrite/keyrite/internal/buildinfo"

// Build is the keyrite that wrote a bundle, as request.json and
// bundle.json record it.
type Build = buildinfo.Info

func currentBuild() *Build {
	b := buildinfo.Get()
	return &b
}
