//go:build !faultinject

package session

// faultPoint is called at the steps of writing a signed bundle. It does
// nothing: only a test build (-tags faultinject, see faultinject.go) kills
// the process at one of them.
func faultPoint(string) {}
