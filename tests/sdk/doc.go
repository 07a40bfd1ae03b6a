// Package sdk holds tests that drive an in-process Millrace server through
// the unmodified aws-sdk-go-v2 Kinesis client and through raw HTTP, checking
// results and error codes against AWS's documented behaviour.
package sdk
