package dynamodb

import (
	"errors"
	"fmt"

	"github.com/millrace/millrace/internal/awsproto"
)

// Error codes of the DynamoDB API.
const (
	codeValidation          = "ValidationException"
	codeSerialization       = "SerializationException"
	codeResourceNotFound    = "ResourceNotFoundException"
	codeResourceInUse       = "ResourceInUseException"
	codeConditionalCheck    = "ConditionalCheckFailedException"
	codeTransactionCanceled = "TransactionCanceledException"
	codeLimitExceeded       = "LimitExceededException"
	codeInternalServer      = "InternalServerError"
)

func apiErr(code, format string, args ...any) error {
	return awsproto.NewError(code, format, args...)
}

// wireType is the __type DynamoDB writes for an error code: the code
// qualified by the namespace of the component that raised it. SDKs keep
// the part after '#'.
func wireType(code string) string {
	switch code {
	case codeValidation:
		return "com.amazon.coral.validate#ValidationException"
	case codeSerialization, "UnknownOperationException", "MissingAuthenticationTokenException",
		"InvalidSignatureException", "IncompleteSignatureException", "AccessDeniedException", "InternalFailure":
		return "com.amazon.coral.service#" + code
	case "RequestEntityTooLargeException":
		return code
	}
	return "com.amazonaws.dynamodb.v20120810#" + code
}

// wireError turns any error into the error the client sees.
func wireError(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		return err // the router logs it and answers InternalFailure
	}
	c := *ae
	c.Code = wireType(ae.Code)
	return &c
}

func conditionalCheckFailed() error {
	return apiErr(codeConditionalCheck, "The conditional request failed")
}

func tableNotFound() error {
	return apiErr(codeResourceNotFound, "Requested resource not found")
}

func tableNotFoundNamed(name string) error {
	return apiErr(codeResourceNotFound, "Requested resource not found: Table: %s not found", name)
}

func internalError(format string, args ...any) error {
	return fmt.Errorf(format, args...)
}
