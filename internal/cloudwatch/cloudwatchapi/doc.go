// Package cloudwatchapi holds the Amazon CloudWatch API shapes, enums,
// validation and operation list, generated from the AWS service model that
// botocore ships (monitoring 2010-08-01). Regenerate with `go generate`;
// the generator finds the model through the installed botocore package.
//
// Shapes follow the model: member names are field names and JSON member
// names; scalars are pointers so that absent members stay absent; enums are
// named string types with the AWS SDK for Go's constant names. Every
// operation input has Validate, which reports constraint violations with
// AWS's ValidationException wording. Millrace serves only some of the
// operations listed here (internal/cloudwatch registers them).
package cloudwatchapi

//go:generate go run ../../apigen -service cloudwatch -version 2010-08-01 -package cloudwatchapi -drop= -out zz_generated.go
