package cloudwatch

import (
	"errors"
	"net/http"
	"strings"

	"github.com/millrace/millrace/internal/awsproto"
)

// CloudWatch is compatible with the AWS Query protocol: an error's __type
// is the model's shape name and X-Amzn-Query-Error its legacy code, which
// both boto3 and the Go SDK report as the error code (without the header
// boto3 raises a generic ClientError).

func cwError(shape, code string, status int, format string, args ...any) *awsproto.Error {
	e := awsproto.NewError(shape, format, args...).WithStatus(status)
	e.QueryError = code + ";Sender"
	if status >= 500 {
		e.QueryError = code + ";Receiver"
	}
	return e
}

// invalidValue is InvalidParameterValue (400).
func invalidValue(format string, args ...any) *awsproto.Error {
	return cwError("InvalidParameterValueException", "InvalidParameterValue", http.StatusBadRequest, format, args...)
}

// invalidCombination is InvalidParameterCombination (400).
func invalidCombination(format string, args ...any) *awsproto.Error {
	return cwError("InvalidParameterCombinationException", "InvalidParameterCombination", http.StatusBadRequest, format, args...)
}

// missingParameter is MissingParameter (400).
func missingParameter(format string, args ...any) *awsproto.Error {
	return cwError("MissingRequiredParameterException", "MissingParameter", http.StatusBadRequest, format, args...)
}

// invalidNextToken is InvalidNextToken (400).
func invalidNextToken() *awsproto.Error {
	return cwError("InvalidNextToken", "InvalidNextToken", http.StatusBadRequest, "The service returned an invalid token.")
}

// wireError gives the generated validation's errors CloudWatch's codes: a
// missing member is MissingParameter, any other constraint
// InvalidParameterValue; the message keeps AWS's validation wording.
// Other errors pass unchanged, with the Query code where they have none.
func wireError(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	if !errors.As(err, &ae) {
		return err
	}
	switch {
	case ae.Code == awsproto.CodeValidation && strings.Contains(ae.Message, "must not be null"):
		return missingParameter("%s", ae.Message)
	case ae.Code == awsproto.CodeValidation:
		return invalidValue("%s", ae.Message)
	case ae.QueryError == "":
		c := *ae
		c.QueryError = ae.Code + ";Sender"
		if ae.Status >= 500 {
			c.QueryError = ae.Code + ";Receiver"
		}
		return &c
	}
	return ae
}
