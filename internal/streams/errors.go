package streams

import "fmt"

// Kind classifies a domain error. The API layer turns each kind into its
// AWS error code in exactly one place.
type Kind int

// The kinds of domain error. The comment names the AWS error code each maps
// to.
const (
	KindNotFound           Kind = iota + 1 // ResourceNotFoundException
	KindInUse                              // ResourceInUseException
	KindInvalidArgument                    // InvalidArgumentException
	KindLimitExceeded                      // LimitExceededException
	KindExpiredIterator                    // ExpiredIteratorException
	KindExpiredNextToken                   // ExpiredNextTokenException
	KindValidation                         // ValidationException
	KindThroughputExceeded                 // ProvisionedThroughputExceededException
	KindAccessDenied                       // AccessDeniedException
	KindInternal                           // InternalFailure
	KindKMSNotFound                        // KMSNotFoundException
	KindKMSDisabled                        // KMSDisabledException
)

// Error is a domain error: a kind and a message in AWS's wording.
type Error struct {
	Kind Kind
	Msg  string
	// conflict: a catalog compare-and-set lost to another node's write;
	// the snapshot in memory has been reloaded.
	conflict bool
}

func (e *Error) Error() string { return e.Msg }

// errorf builds an *Error of the given kind.
func errorf(kind Kind, format string, args ...any) *Error {
	return &Error{Kind: kind, Msg: fmt.Sprintf(format, args...)}
}
