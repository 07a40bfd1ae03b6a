//go:build !unix

package kms

// lockFile is a no-op where advisory file locks are not available: run
// `millrace kms` while the server is stopped there.
func lockFile(string) (func(), error) { return func() {}, nil }
