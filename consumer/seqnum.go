package consumer

import (
	"fmt"
	"math/big"
	"strconv"
)

// Checkpoint sentinels, as the KCL writes them in the checkpoint attribute.
const (
	TrimHorizon = "TRIM_HORIZON"
	Latest      = "LATEST"
	AtTimestamp = "AT_TIMESTAMP"
	ShardEnd    = "SHARD_END"
)

// ExtendedSequenceNumber is a position in a shard: the sequence number of a
// Kinesis record and the index of a user record inside it (0 for a record
// that is not an aggregate), or a sentinel with sub-sequence 0.
type ExtendedSequenceNumber struct {
	SequenceNumber    string
	SubSequenceNumber int64
}

// IsSentinel reports whether e is TRIM_HORIZON, LATEST, AT_TIMESTAMP or
// SHARD_END rather than a sequence number.
func (e ExtendedSequenceNumber) IsSentinel() bool {
	switch e.SequenceNumber {
	case TrimHorizon, Latest, AtTimestamp, ShardEnd:
		return true
	}
	return false
}

func (e ExtendedSequenceNumber) String() string {
	if e.SubSequenceNumber == 0 {
		return e.SequenceNumber
	}
	return e.SequenceNumber + "." + strconv.FormatInt(e.SubSequenceNumber, 10)
}

// compareESN orders two positions that are sequence numbers.
func compareESN(a, b ExtendedSequenceNumber) int {
	if c := compareSeq(a.SequenceNumber, b.SequenceNumber); c != 0 {
		return c
	}
	switch {
	case a.SubSequenceNumber < b.SubSequenceNumber:
		return -1
	case a.SubSequenceNumber > b.SubSequenceNumber:
		return 1
	}
	return 0
}

// compareSeq orders two decimal sequence numbers of any length.
func compareSeq(a, b string) int {
	if len(a) != len(b) && !hasLeadingZero(a) && !hasLeadingZero(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	x, okx := new(big.Int).SetString(a, 10)
	y, oky := new(big.Int).SetString(b, 10)
	if !okx || !oky {
		switch {
		case a < b:
			return -1
		case a > b:
			return 1
		}
		return 0
	}
	return x.Cmp(y)
}

func hasLeadingZero(s string) bool { return len(s) > 1 && s[0] == '0' }

func validSeq(s string) error {
	if s == "" {
		return fmt.Errorf("consumer: empty sequence number")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return fmt.Errorf("consumer: sequence number %q is not a decimal number", s)
		}
	}
	return nil
}
