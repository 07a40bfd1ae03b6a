package firehose

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/millrace/millrace/internal/firehose/firehoseapi"
	"github.com/millrace/millrace/internal/storage"
)

// LogStream is the storage.ShardKey.Stream of every delivery stream's
// Direct PUT log; the shard is the delivery stream's log number. The
// streams domain numbers its streams upward from 1 and CloudWatch keeps
// its aggregates at math.MaxUint64, so this number is no one else's.
const LogStream = math.MaxUint64 - 1

// Catalog keys.
const (
	keyStreams  = "firehose/ds/"       // + account/region/name: deliveryStream
	keyProgress = "firehose/progress/" // + log number: progress
	keyNextLog  = "firehose/next-log"  // the log number counter
)

// destinationID is the one destination's id, as Firehose numbers it.
const destinationID = "destinationId-000000000001"

// deliveryStream is a delivery stream as the catalog stores it.
type deliveryStream struct {
	Account   string `json:"account"`
	Region    string `json:"region"`
	Name      string `json:"name"`
	ARN       string `json:"arn"`
	Type      string `json:"type"`
	Status    string `json:"status"`
	CreatedAt int64  `json:"createdAt"` // ms
	UpdatedAt int64  `json:"updatedAt"` // ms
	// Version is the VersionId: 1 at creation, one more per
	// UpdateDestination.
	Version int `json:"version"`
	// Log is the number of the Direct PUT log (storage shard under
	// LogStream) and of the progress entry.
	Log uint32 `json:"log"`

	KinesisSource *firehoseapi.KinesisStreamSourceConfiguration `json:"kinesisSource,omitempty"`
	// DirectPut is the Direct PUT source's throughput hint, as given.
	DirectPut *firehoseapi.DirectPutSourceConfiguration `json:"directPut,omitempty"`

	// Dest is the one destination.
	Dest destConfig `json:"dest"`

	Encryption *firehoseapi.DeliveryStreamEncryptionConfiguration `json:"encryption,omitempty"`
	Tags       []firehoseapi.Tag                                  `json:"tags,omitempty"`
	Failure    *firehoseapi.FailureDescription                    `json:"failure,omitempty"`
}

func streamKey(account, region, name string) string {
	return keyStreams + account + "/" + region + "/" + name
}

func (d *deliveryStream) key() string { return streamKey(d.Account, d.Region, d.Name) }

// logKey is the storage shard of the delivery stream's Direct PUT log.
func (d *deliveryStream) logKey() storage.ShardKey {
	return storage.ShardKey{Stream: LogStream, Shard: d.Log}
}

func streamARN(region, account, name string) string {
	return "arn:aws:firehose:" + region + ":" + account + ":deliverystream/" + name
}

// get reads a delivery stream and its revision.
func (s *Service) get(ctx context.Context, account, region, name string) (*deliveryStream, uint64, error) {
	b, rev, err := s.cat.Get(ctx, streamKey(account, region, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, 0, errNotFound(name, account)
	}
	if err != nil {
		return nil, 0, storageError("reading a delivery stream", err)
	}
	d := new(deliveryStream)
	if err := json.Unmarshal(b, d); err != nil {
		return nil, 0, fmt.Errorf("firehose: decoding delivery stream %s: %w", name, err)
	}
	return d, rev, nil
}

// put stores a delivery stream at the revision it was read at (0: new).
func (s *Service) put(ctx context.Context, d *deliveryStream, rev uint64) (uint64, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return 0, fmt.Errorf("firehose: encoding delivery stream %s: %w", d.Name, err)
	}
	return s.cat.Put(ctx, d.key(), b, rev)
}

// list returns the delivery streams of one account and region (all of
// them when account is ""), sorted by name.
func (s *Service) list(ctx context.Context, account, region string) ([]*deliveryStream, error) {
	prefix := keyStreams
	if account != "" {
		prefix += account + "/" + region + "/"
	}
	kvs, err := s.cat.List(ctx, prefix)
	if err != nil {
		return nil, storageError("listing delivery streams", err)
	}
	out := make([]*deliveryStream, 0, len(kvs))
	for _, kv := range kvs {
		d := new(deliveryStream)
		if err := json.Unmarshal(kv.Value, d); err != nil {
			return nil, fmt.Errorf("firehose: decoding %s: %w", kv.Key, err)
		}
		out = append(out, d)
	}
	return out, nil
}

// nextLog takes the next log number from the catalog counter with
// compare-and-set, so that no two delivery streams, even on two nodes,
// ever share a log.
func (s *Service) nextLog(ctx context.Context) (uint32, error) {
	for range 100 {
		val, rev, err := s.cat.Get(ctx, keyNextLog)
		next := uint64(1)
		switch {
		case errors.Is(err, storage.ErrNotFound):
			rev = 0
		case err != nil:
			return 0, storageError("reading the log counter", err)
		default:
			n, perr := strconv.ParseUint(strings.TrimSpace(string(val)), 10, 32)
			if perr != nil {
				return 0, fmt.Errorf("firehose: bad log counter %q: %w", val, perr)
			}
			next = n
		}
		if next >= math.MaxUint32 {
			return 0, errors.New("firehose: the delivery stream log numbers are used up")
		}
		_, err = s.cat.Put(ctx, keyNextLog, []byte(strconv.FormatUint(next+1, 10)), rev)
		if errors.Is(err, storage.ErrConflict) {
			continue
		}
		if err != nil {
			return 0, storageError("advancing the log counter", err)
		}
		return uint32(next), nil
	}
	return 0, errors.New("firehose: log counter: too many conflicting writers")
}
