package jetstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/millrace/millrace/internal/storage"
)

// Headers of a log message.
const (
	hdrArrival = "Mr-Arrival" // the Append's arrival, ms since the epoch
	hdrCount   = "Mr-Count"   // how many entries the message holds
	// hdrClosed marks the message CloseShard writes: it holds no entry,
	// and no message follows it.
	hdrClosed = "Mr-Closed"
)

// seqShift: a message's records are numbered within the 2^16 numbers
// below the next message's (see doc.go).
const (
	seqShift   = 16
	maxEntries = 1 << seqShift
)

// firstRecordSeq is the number of the first of n records of the message
// at stream sequence m.
func firstRecordSeq(m uint64, n int) uint64 { return m<<seqShift + maxEntries - uint64(n) }

// encodeEntries packs entries as uvarint-length-prefixed partition key and
// data, one after the other.
func encodeEntries(entries []storage.Entry) []byte {
	size := 0
	for i := range entries {
		size += 2*binary.MaxVarintLen32 + len(entries[i].PartitionKey) + len(entries[i].Data)
	}
	b := make([]byte, 0, size)
	for i := range entries {
		b = binary.AppendUvarint(b, uint64(len(entries[i].PartitionKey)))
		b = append(b, entries[i].PartitionKey...)
		b = binary.AppendUvarint(b, uint64(len(entries[i].Data)))
		b = append(b, entries[i].Data...)
	}
	return b
}

// logMsg is one decoded log message.
type logMsg struct {
	seq     uint64 // stream sequence
	arrival int64
	count   int
	closed  bool // the shard's closing marker (count 0)
	data    []byte
}

func parseLogMsg(m *nats.Msg) (logMsg, error) {
	var lm logMsg
	var err error
	if lm.seq, err = strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64); err != nil {
		return lm, fmt.Errorf("jetstream: message without a sequence: %w", err)
	}
	if lm.arrival, err = strconv.ParseInt(m.Header.Get(hdrArrival), 10, 64); err != nil {
		return lm, fmt.Errorf("jetstream: message %d of %s without an arrival", lm.seq, m.Header.Get("Nats-Stream"))
	}
	if m.Header.Get(hdrClosed) != "" {
		if len(m.Data) != 0 {
			return lm, fmt.Errorf("jetstream: closing marker %d of %s holds %d bytes", lm.seq, m.Header.Get("Nats-Stream"), len(m.Data))
		}
		lm.closed = true
		return lm, nil
	}
	if lm.count, err = strconv.Atoi(m.Header.Get(hdrCount)); err != nil || lm.count < 1 || lm.count > maxEntries {
		return lm, fmt.Errorf("jetstream: message %d of %s: bad entry count %q", lm.seq, m.Header.Get("Nats-Stream"), m.Header.Get(hdrCount))
	}
	lm.data = m.Data
	return lm, nil
}

// searchArrival is the arrival a search by time sees: the closing
// marker's is later than any record's (it is published without an
// expected last sequence, so its own arrival header may trail an Append
// stored just before it), which makes a search past every record find
// the marker, the shard's end.
func (lm *logMsg) searchArrival() int64 {
	if lm.closed {
		return math.MaxInt64
	}
	return lm.arrival
}

// records decodes the message's entries as records, calling fn with each
// until it returns false.
func (lm *logMsg) records(fn func(r storage.Record) bool) error {
	b := lm.data
	seq := firstRecordSeq(lm.seq, lm.count)
	for i := 0; i < lm.count; i++ {
		pk, rest, ok := cut(b)
		if !ok {
			return fmt.Errorf("jetstream: message %d: entry %d is cut short", lm.seq, i)
		}
		data, rest, ok := cut(rest)
		if !ok {
			return fmt.Errorf("jetstream: message %d: entry %d is cut short", lm.seq, i)
		}
		b = rest
		if !fn(storage.Record{Seq: seq + uint64(i), Arrival: lm.arrival, PartitionKey: pk, Data: data}) {
			return nil
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("jetstream: message %d: %d bytes after its %d entries", lm.seq, len(b), lm.count)
	}
	return nil
}

// cut splits a uvarint-length-prefixed field off b.
func cut(b []byte) (field, rest []byte, ok bool) {
	n, k := binary.Uvarint(b)
	if k <= 0 || n > uint64(len(b)-k) {
		return nil, nil, false
	}
	return b[k : k+int(n) : k+int(n)], b[k+int(n):], true
}

// getRequest is JetStream's direct get request (JSApiMsgGetRequest).
type getRequest struct {
	Seq      uint64 `json:"seq,omitempty"`
	Batch    int    `json:"batch,omitempty"`
	MaxBytes int    `json:"max_bytes,omitempty"`
	NextFor  string `json:"next_by_subj,omitempty"`
}

// errNoStream: nothing answers direct gets for the stream (it does not
// exist, or no replica is up).
var errNoStream = errors.New("jetstream: no stream answers")

// directGet asks any replica of a stream for messages. It returns the
// messages, and for a batch request how many more match after them.
func (e *Engine) directGet(ctx context.Context, stream string, req getRequest) ([]*nats.Msg, uint64, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, 0, err
	}
	inbox := nats.NewInbox()
	sub, err := e.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, e.connErr(err)
	}
	defer sub.Unsubscribe()
	// A batch can hold messages of up to maxPayload each.
	_ = sub.SetPendingLimits(-1, -1)
	if err := e.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, body); err != nil {
		return nil, 0, e.connErr(err)
	}
	var msgs []*nats.Msg
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if errors.Is(err, nats.ErrNoResponders) {
			return nil, 0, errNoStream
		}
		if err != nil {
			return nil, 0, e.connErr(err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			msgs = append(msgs, m)
			if req.Batch == 0 {
				return msgs, 0, nil
			}
		case "204": // end of batch
			pending, _ := strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return msgs, pending, nil
		case "404":
			return msgs, 0, nil
		case "503":
			return nil, 0, errNoStream
		default:
			return nil, 0, fmt.Errorf("jetstream: direct get from %s: %s %s", stream, status, m.Header.Get("Description"))
		}
	}
}

// connErr maps the errors of a closed connection to storage.ErrClosed.
func (e *Engine) connErr(err error) error {
	if errors.Is(err, nats.ErrConnectionClosed) || errors.Is(err, nats.ErrBadSubscription) {
		return fmt.Errorf("%w: %v", storage.ErrClosed, err)
	}
	if errors.Is(err, nats.ErrTimeout) {
		return fmt.Errorf("jetstream: %w", context.DeadlineExceeded)
	}
	return err
}

// attemptTimeout bounds one publish or request inside a longer deadline,
// so that a request lost in a leader change is sent again in time.
const attemptTimeout = 2 * time.Second
