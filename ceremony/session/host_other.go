//go:build !unix

package session

func kernelRelease() string { return "" }
