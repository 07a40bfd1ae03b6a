package awsproto

import (
	"fmt"
	"net/http"
)

// Error codes the protocol layer itself produces. Services define their own.
const (
	CodeSerialization         = "SerializationException"
	CodeValidation            = "ValidationException"
	CodeUnknownOperation      = "UnknownOperationException"
	CodeInternalFailure       = "InternalFailure"
	CodeAccessDenied          = "AccessDeniedException"
	CodeMissingAuthentication = "MissingAuthenticationTokenException"
	CodeInvalidSignature      = "InvalidSignatureException"
	CodeIncompleteSignature   = "IncompleteSignatureException"
	CodeRequestEntityTooLarge = "RequestEntityTooLargeException"
)

// Error is an AWS error response: the __type code, the message and the HTTP
// status. Handlers return it to send exactly this error to the client.
type Error struct {
	Code    string
	Message string
	Status  int
	// Fields are further top-level members of the error body, for errors
	// that carry data (DynamoDB's CancellationReasons, Item).
	Fields map[string]any
	// Header holds response headers the error sets (REST protocols only:
	// TooManyRequestsException's Retry-After).
	Header http.Header
	// QueryError, when set, is sent as X-Amzn-Query-Error ("Code;Sender"):
	// services compatible with the AWS Query protocol (CloudWatch) name
	// their legacy error code there, which the SDKs use as the error code.
	QueryError string
	// capitalMessage writes the message under "Message" instead of
	// "message": AWS does so for SerializationException bodies.
	capitalMessage bool
}

// Error implements the error interface as "Code: Message".
func (e *Error) Error() string {
	if e.Message == "" {
		return e.Code
	}
	return e.Code + ": " + e.Message
}

// NewError returns an error with HTTP status 400 and a formatted message.
// With no args the format is used verbatim.
func NewError(code, format string, args ...any) *Error {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	return &Error{Code: code, Message: msg, Status: http.StatusBadRequest}
}

// WithStatus returns a copy of e with another HTTP status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// serializationError is the error for bodies that cannot be decoded into the
// operation's input shape.
func serializationError(msg string) *Error {
	return &Error{Code: CodeSerialization, Message: msg, Status: http.StatusBadRequest, capitalMessage: true}
}

// internalFailure is what clients see for any error that is not an *Error;
// the details stay in the server log.
func internalFailure() *Error {
	return &Error{Code: CodeInternalFailure, Message: "An internal error occurred.", Status: http.StatusInternalServerError}
}
