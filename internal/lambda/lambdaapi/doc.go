// Package lambdaapi holds the Lambda API shapes, enums, validation and
// operation list (with each operation's REST binding), generated from the
// AWS service model that botocore ships (lambda 2015-03-31). Regenerate
// with `go generate`; the generator finds the model through the installed
// botocore package.
//
// Lambda speaks REST-JSON: members the model binds to the path, the query
// string or a header are tagged `json:"-"` and filled by the service from
// the request; Validate checks them like any other member.
package lambdaapi

//go:generate go run ../../apigen -service lambda -version 2015-03-31 -package lambdaapi -drop= -out zz_generated.go
