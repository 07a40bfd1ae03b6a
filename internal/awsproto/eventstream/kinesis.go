package eventstream

import "unicode/utf8"

// Header names and values of the messages that Kinesis SubscribeToShard
// sends, as the SDKs dispatch on them.
const (
	HeaderMessageType   = ":message-type"
	HeaderEventType     = ":event-type"
	HeaderContentType   = ":content-type"
	HeaderExceptionType = ":exception-type"
	HeaderErrorCode     = ":error-code"
	HeaderErrorMessage  = ":error-message"

	MessageTypeEvent     = "event"
	MessageTypeException = "exception"
	MessageTypeError     = "error"

	// EventTypeInitialResponse must be the first event of a SubscribeToShard
	// response: botocore and smithy-go fail the call without it.
	EventTypeInitialResponse = "initial-response"
	// EventTypeSubscribeToShardEvent carries records and the continuation
	// sequence number.
	EventTypeSubscribeToShardEvent = "SubscribeToShardEvent"
)

// EventMessage returns an event message (:message-type event) of the given
// event type. The :content-type header is omitted when contentType is
// empty, as for an initial-response with no payload.
func EventMessage(eventType, contentType string, payload []byte) Message {
	return typedMessage(MessageTypeEvent, HeaderEventType, eventType, contentType, payload)
}

// ExceptionMessage returns a modelled exception (:message-type exception),
// e.g. ResourceInUseException with a {"message":"..."} payload. The
// :content-type header is omitted when contentType is empty.
func ExceptionMessage(exceptionType, contentType string, payload []byte) Message {
	return typedMessage(MessageTypeException, HeaderExceptionType, exceptionType, contentType, payload)
}

// ErrorMessage returns an unmodelled error (:message-type error) whose code
// and message travel in headers; it has no payload. A message longer than
// a header value may be is cut at a UTF-8 boundary so that the error can
// still be sent.
func ErrorMessage(code, message string) Message {
	message = truncateUTF8(message, MaxHeaderValueLen)
	return Message{Headers: []Header{
		{Name: HeaderMessageType, Value: String(MessageTypeError)},
		{Name: HeaderErrorCode, Value: String(code)},
		{Name: HeaderErrorMessage, Value: String(message)},
	}}
}

func typedMessage(messageType, typeHeader, typ, contentType string, payload []byte) Message {
	n := 2
	if contentType != "" {
		n = 3
	}
	hs := make([]Header, 2, n)
	hs[0] = Header{Name: HeaderMessageType, Value: String(messageType)}
	hs[1] = Header{Name: typeHeader, Value: String(typ)}
	if contentType != "" {
		hs = append(hs, Header{Name: HeaderContentType, Value: String(contentType)})
	}
	return Message{Headers: hs, Payload: payload}
}

// truncateUTF8 cuts s to at most n bytes without splitting a rune.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
