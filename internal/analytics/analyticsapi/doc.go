// Package analyticsapi holds the Amazon Kinesis Analytics v2 API shapes
// (kinesisanalyticsv2 2018-05-23), enums, validation and operation list,
// generated from the AWS service model that botocore ships. Regenerate with
// `go generate`; the generator finds the model through the installed
// botocore package. Millrace serves only some of the operations listed
// here (internal/analytics registers them).
package analyticsapi

//go:generate go run ../../apigen -service kinesisanalyticsv2 -version 2018-05-23 -package analyticsapi -drop= -out zz_generated.go
