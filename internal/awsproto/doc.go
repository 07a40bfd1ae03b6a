// Package awsproto implements the AWS wire protocols Millrace speaks: AWS
// JSON 1.1 (and 1.0) and the CBOR variant the Java SDKs send, the error
// envelope, X-Amz-Target dispatch, request context and SigV4 header parsing.
//
// Services register typed operations through [Op]; the router decodes the
// body with the request's protocol, runs the generated validation of the
// input shape, calls the operation and encodes its output or error. Error
// codes and messages follow AWS's wording, so that SDK retry logic and
// users' error handling behave as they do against AWS.
package awsproto
