// Package kinesisapi holds the Kinesis Data Streams API shapes, enums,
// validation and operation list, generated from the AWS service model that
// botocore ships (kinesis 2013-12-02). Regenerate with `go generate`; the
// generator finds the model through the installed botocore package.
//
// Shapes follow the model: member names are field names and JSON/CBOR
// member names; scalars are pointers so that absent members stay absent;
// enums are named string types with the AWS SDK for Go's constant names.
// Every operation input has Validate, which reports constraint violations
// with AWS's ValidationException wording.
package kinesisapi

//go:generate go run ../../apigen -service kinesis -version 2013-12-02 -package kinesisapi -out zz_generated.go
