// Package kclvmware runs a third-party Kinesis Client Library,
// github.com/vmware/vmware-go-kcl-v2 v1.0.0, against a Millrace binary,
// with the aws-sdk-go-v2 versions that library pins (old clients, as its
// users run them). It is a module of its own so that those pins never
// reach Millrace's go.mod, and it drives the server as a separate process,
// never importing Millrace.
//
//	cd tests/kcl-vmware && go test -count=1 ./...
//
// MILLRACE_BIN names the binary to test; without it the test builds
// ./cmd/millrace from the repository root.
package kclvmware
