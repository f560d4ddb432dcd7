//go:build !faultinject

package pkcs11

// faultPoint is called before every PKCS#11 call. It does nothing: only a
// test build (-tags faultinject, see faultinject.go) counts the calls and
// kills the process at one of them.
func faultPoint() {}
