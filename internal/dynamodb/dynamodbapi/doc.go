// Package dynamodbapi holds the Amazon DynamoDB API shapes, enums,
// validation and operation list, generated from the AWS service model that
// botocore ships (dynamodb 2012-08-10). Regenerate with `go generate`; the
// generator finds the model through the installed botocore package.
//
// Shapes follow the model: member names are field names and JSON member
// names; scalars are pointers so that absent members stay absent; enums are
// named string types with the AWS SDK for Go's constant names. Every
// operation input has Validate, which reports constraint violations with
// AWS's ValidationException wording.
package dynamodbapi

//go:generate go run ../../apigen -service dynamodb -version 2012-08-10 -package dynamodbapi -drop= -out zz_generated.go
