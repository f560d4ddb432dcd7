//go:build !faultinject

package store

// faultPoint is called at each step of a batch's write. It does nothing:
// only a test build (-tags faultinject, see faultinject.go) kills the
// process at one of them.
func faultPoint(string) {}
