package firehose

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// maxDecompressed bounds what one record may decompress to.
const maxDecompressed = 16 << 20

// gunzip decompresses a GZIP record (every member of it), refusing one
// that decompresses to more than maxDecompressed bytes.
func gunzip(data []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("the record is not GZIP: %v", err)
	}
	out, err := io.ReadAll(io.LimitReader(zr, maxDecompressed+1))
	if err != nil {
		return nil, fmt.Errorf("the record is not valid GZIP: %v", err)
	}
	if len(out) > maxDecompressed {
		return nil, fmt.Errorf("the record decompresses to more than %d bytes", maxDecompressed)
	}
	return out, nil
}

// cwlMessage is a CloudWatch Logs subscription message, as CloudWatch
// Logs sends it (GZIP-compressed) to a subscription's destination.
type cwlMessage struct {
	MessageType *string `json:"messageType"`
	LogEvents   []struct {
		ID        string  `json:"id"`
		Timestamp int64   `json:"timestamp"`
		Message   *string `json:"message"`
	} `json:"logEvents"`
}

// extractMessages takes a decompressed CloudWatch Logs subscription
// message apart: a DATA_MESSAGE gives the message of each of its log
// events, a CONTROL_MESSAGE (CloudWatch Logs checking that the
// destination is reachable) nothing.
func extractMessages(data []byte) ([][]byte, error) {
	var m cwlMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("the record is not a CloudWatch Logs subscription message: %v", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("the record holds more than one CloudWatch Logs subscription message")
	}
	if m.MessageType == nil {
		return nil, errors.New("the CloudWatch Logs subscription message has no messageType")
	}
	switch *m.MessageType {
	case "CONTROL_MESSAGE":
		return nil, nil
	case "DATA_MESSAGE":
	default:
		return nil, fmt.Errorf("the CloudWatch Logs messageType %q is not DATA_MESSAGE or CONTROL_MESSAGE", *m.MessageType)
	}
	out := make([][]byte, 0, len(m.LogEvents))
	for i, ev := range m.LogEvents {
		if ev.Message == nil {
			return nil, fmt.Errorf("log event %d has no message", i)
		}
		out = append(out, []byte(*ev.Message))
	}
	return out, nil
}
