package firehose

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/storage"
)

// Firehose's errors, in its words.

func errNotFound(name, account string) error {
	return awsproto.NewError("ResourceNotFoundException", "Firehose stream %s under account %s not found.", name, account)
}

func errInUse(format string, args ...any) error {
	return awsproto.NewError("ResourceInUseException", format, args...)
}

func errInvalid(format string, args ...any) error {
	return awsproto.NewError("InvalidArgumentException", format, args...)
}

func errLimit(format string, args ...any) error {
	return awsproto.NewError("LimitExceededException", format, args...)
}

func errConcurrent(format string, args ...any) error {
	return awsproto.NewError("ConcurrentModificationException", format, args...)
}

// errNotSupported refuses a configuration Millrace does not deliver yet.
func errNotSupported(what string) error {
	return errInvalid("%s is not supported by Millrace; see docs/firehose.md for the destinations and options it delivers.", what)
}

// storageError turns a storage failure into an answer: a stopping server
// is ServiceUnavailableException, anything else an internal error.
func storageError(op string, err error) error {
	if errors.Is(err, storage.ErrClosed) {
		return awsproto.NewError("ServiceUnavailableException", "The server is stopping.").WithStatus(http.StatusServiceUnavailable)
	}
	return fmt.Errorf("firehose: %s: %w", op, err)
}
