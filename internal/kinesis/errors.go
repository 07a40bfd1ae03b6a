package kinesis

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/streams"
)

// Kinesis error codes.
const (
	codeResourceNotFound   = "ResourceNotFoundException"
	codeResourceInUse      = "ResourceInUseException"
	codeInvalidArgument    = "InvalidArgumentException"
	codeLimitExceeded      = "LimitExceededException"
	codeExpiredIterator    = "ExpiredIteratorException"
	codeExpiredNextToken   = "ExpiredNextTokenException"
	codeThroughputExceeded = "ProvisionedThroughputExceededException"
	codeNotImplemented     = "NotImplemented"
)

// kindCodes maps each domain error kind to its AWS error code.
var kindCodes = map[streams.Kind]string{
	streams.KindNotFound:           codeResourceNotFound,
	streams.KindInUse:              codeResourceInUse,
	streams.KindInvalidArgument:    codeInvalidArgument,
	streams.KindLimitExceeded:      codeLimitExceeded,
	streams.KindExpiredIterator:    codeExpiredIterator,
	streams.KindExpiredNextToken:   codeExpiredNextToken,
	streams.KindValidation:         awsproto.CodeValidation,
	streams.KindThroughputExceeded: codeThroughputExceeded,
	streams.KindAccessDenied:       awsproto.CodeAccessDenied,
	streams.KindInternal:           awsproto.CodeInternalFailure,
	streams.KindKMSNotFound:        "KMSNotFoundException",
	streams.KindKMSDisabled:        "KMSDisabledException",
}

// apiError turns an error from the domain into the AWS error the client
// sees. Protocol errors pass through; anything else is returned unchanged
// and becomes a 500 InternalFailure (logged) in the router.
func apiError(err error) error {
	if err == nil {
		return nil
	}
	var ae *awsproto.Error
	if errors.As(err, &ae) {
		return ae
	}
	var de *streams.Error
	if !errors.As(err, &de) {
		return err
	}
	code, ok := kindCodes[de.Kind]
	if !ok {
		return fmt.Errorf("kinesis: domain error of unknown kind %d: %w", de.Kind, err)
	}
	e := &awsproto.Error{Code: code, Message: de.Msg, Status: http.StatusBadRequest}
	if de.Kind == streams.KindInternal {
		e = e.WithStatus(http.StatusInternalServerError)
	}
	return e
}

// notImplementedError is what operations of later releases answer. AWS uses
// the NotImplemented code with HTTP 501 for functionality it does not offer.
func notImplementedError(op string) *awsproto.Error {
	return awsproto.NewError(codeNotImplemented,
		"Millrace does not implement %s yet; see docs/api-coverage.md", op).WithStatus(http.StatusNotImplemented)
}
