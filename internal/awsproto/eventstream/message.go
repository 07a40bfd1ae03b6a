package eventstream

import (
	"strconv"
	"strings"
)

// Message is one event-stream message: ordered headers and an opaque
// payload.
type Message struct {
	Headers []Header
	Payload []byte
}

// Header is a named, typed header. Names are 1 to 255 bytes.
type Header struct {
	Name  string
	Value Value
}

// Header returns the value of the first header called name.
func (m Message) Header(name string) (Value, bool) {
	for _, h := range m.Headers {
		if h.Name == name {
			return h.Value, true
		}
	}
	return Value{}, false
}

// String formats the message for logs and test failures.
func (m Message) String() string {
	var b strings.Builder
	b.WriteString("{")
	for i, h := range m.Headers {
		if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(h.Name)
		b.WriteString("=")
		b.WriteString(h.Value.String())
	}
	b.WriteString(" payload=")
	b.WriteString(quotePayload(m.Payload))
	b.WriteString("}")
	return b.String()
}

func quotePayload(p []byte) string {
	const max = 256
	if len(p) > max {
		return strconv.Quote(string(p[:max])) + "... (" + strconv.Itoa(len(p)) + " bytes)"
	}
	return strconv.Quote(string(p))
}
