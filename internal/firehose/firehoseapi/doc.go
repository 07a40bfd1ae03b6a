// Package firehoseapi holds the Amazon Data Firehose API shapes, enums,
// validation and operation list, generated from the AWS service model that
// botocore ships (firehose 2015-08-04). Regenerate with `go generate`; the
// generator finds the model through the installed botocore package.
package firehoseapi

//go:generate go run ../../apigen -service firehose -version 2015-08-04 -package firehoseapi -drop= -out zz_generated.go
