package streams

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/millrace/millrace/internal/background"
	"github.com/millrace/millrace/internal/kms"
	"github.com/millrace/millrace/internal/storage"
)

// Status is a stream's lifecycle state.
type Status string

// The stream states, as the API reports them.
const (
	StatusCreating Status = "CREATING"
	StatusActive   Status = "ACTIVE"
	StatusUpdating Status = "UPDATING"
	StatusDeleting Status = "DELETING"
)

// Capacity modes.
const (
	ModeProvisioned = "PROVISIONED"
	ModeOnDemand    = "ON_DEMAND"
)

// StreamRef names a stream as a request does: by name or ARN, within the
// caller's account and region. The API layer fills Account and Region from
// the request; an ARN's account and region win over the caller's.
type StreamRef struct{ Account, Region, Name, ARN string }

// Stream is an immutable snapshot of one stream's metadata. A published
// *Stream is never mutated: every change builds a new snapshot, stores it in
// the catalog and then replaces the old one in the in-memory map, so the data
// path can hold a snapshot without locks.
type Stream struct {
	ID               uint64  `json:"id"` // storage.ShardKey.Stream; never reused
	Account          string  `json:"account"`
	Region           string  `json:"region"`
	Name             string  `json:"name"`
	ARN              string  `json:"arn"`
	Status           Status  `json:"status"`
	Mode             string  `json:"mode"`
	CreatedAt        int64   `json:"createdAt"` // ms since the epoch
	RetentionHours   int     `json:"retentionHours"`
	MaxRecordSizeKiB int     `json:"maxRecordSizeKiB"`
	Shards           []Shard `json:"shards"` // indexed by Shard.Index

	// Deadline is when the current CREATING, UPDATING or DELETING state ends
	// (ms since the epoch). It is stored so that a restart resumes the
	// transition.
	Deadline int64 `json:"deadline,omitempty"`
	// RetentionFloor is a time (ms) before which records stay invisible even
	// if the retention period grows: increasing retention does not revive
	// records that had already expired.
	RetentionFloor int64 `json:"retentionFloor,omitempty"`

	Tags              map[string]string `json:"tags,omitempty"`
	ShardLevelMetrics []string          `json:"shardLevelMetrics,omitempty"` // sorted
	Policy            string            `json:"policy,omitempty"`
	EncryptionType    string            `json:"encryptionType,omitempty"` // "" means NONE
	KeyID             string            `json:"keyId,omitempty"`
	// KMSKeyID is the KMS key (a UUID) KeyID named when encryption was
	// started (encryption.go); KeyChanges the times (ms) of the encryption
	// changes of the last 24 hours. Never changed in place.
	KMSKeyID   string  `json:"kmsKeyId,omitempty"`
	KeyChanges []int64 `json:"keyChanges,omitempty"`

	// ShardCountUpdates are the times (ms) of the UpdateShardCount calls of
	// the last 24 hours, for the calls-per-day limit. Never changed in place.
	ShardCountUpdates []int64 `json:"shardCountUpdates,omitempty"`
	// WarmThroughputMiBps is an on-demand stream's warm throughput target
	// (0: none); ModeSwitches the times (ms) of the capacity-mode changes of
	// the last 24 hours. Never changed in place.
	WarmThroughputMiBps int     `json:"warmThroughputMiBps,omitempty"`
	ModeSwitches        []int64 `json:"modeSwitches,omitempty"`

	// Consumers are the stream's enhanced fan-out consumers (consumers.go).
	// Never changed in place.
	Consumers []Consumer `json:"consumers,omitempty"`

	rev uint64 // catalog revision this snapshot was stored at

	// open caches OpenShards for routing; see openShards.
	open openCache
	// stats are the stream's metrics, shared by all its snapshots (stats.go).
	stats *streamStats
}

// openCache is the sorted open-shard list of the Shards array it was built
// from. A copy of a snapshot (c := *st) carries the cache along, so it is
// used only while Shards is still that same array.
type openCache struct {
	base   *Shard
	n      int
	shards []*Shard
}

// Shard is one shard of a stream.
type Shard struct {
	Index               uint32  `json:"index"`
	StartingHashKey     HashKey `json:"start"`
	EndingHashKey       HashKey `json:"end"`
	ParentIndex         int64   `json:"parent"`         // -1 if none
	AdjacentParentIndex int64   `json:"adjacentParent"` // -1 if none
	CreatedAt           int64   `json:"createdAt"`      // ms since the epoch
	ClosedAt            int64   `json:"closedAt,omitempty"`
	EndingSeq           uint64  `json:"endingSeq,omitempty"` // engine seq of the last record once closed
}

// ID returns the shard id the API uses.
func (sh *Shard) ID() string {
	// shardId- and the index in 12 digits (or more), without fmt: every
	// PutRecord response names its shard.
	var b [8 + 20]byte
	copy(b[:], "shardId-")
	n := strconv.AppendUint(b[8:8], uint64(sh.Index), 10)
	if pad := 12 - len(n); pad > 0 {
		copy(b[8+pad:], n)
		for i := 8; i < 8+pad; i++ {
			b[i] = '0'
		}
		return string(b[:20])
	}
	return string(b[:8+len(n)])
}

// IsOpen reports whether the shard still takes writes.
func (sh *Shard) IsOpen() bool { return sh.ClosedAt == 0 }

// Key returns the storage key of one of the stream's shards.
func (st *Stream) Key(shard uint32) storage.ShardKey {
	return storage.ShardKey{Stream: st.ID, Shard: shard}
}

// OpenShards returns the open shards sorted by StartingHashKey.
func (st *Stream) OpenShards() []*Shard {
	out := make([]*Shard, 0, len(st.Shards))
	for i := range st.Shards {
		if st.Shards[i].IsOpen() {
			out = append(out, &st.Shards[i])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].StartingHashKey.Cmp(out[j].StartingHashKey) < 0 })
	return out
}

// openShards is OpenShards without allocating, for the data path: the list
// built when the snapshot was published (seal), else a fresh one. Callers
// must not modify it.
func (st *Stream) openShards() []*Shard {
	if c := &st.open; c.shards != nil && c.n == len(st.Shards) && c.base == unsafe.SliceData(st.Shards) {
		return c.shards
	}
	return st.OpenShards()
}

// seal builds the snapshot's caches; it is called before a snapshot is
// published, after which the snapshot is never changed.
func (st *Stream) seal() {
	st.open = openCache{base: unsafe.SliceData(st.Shards), n: len(st.Shards), shards: st.OpenShards()}
}

// RetentionCutoff returns the arrival time (ms) before which records are no
// longer readable at now: the retention period, and never earlier than the
// floor left by past retention changes.
func (st *Stream) RetentionCutoff(now time.Time) int64 {
	return st.retentionCutoff(now, time.Hour)
}

// retentionCutoff is RetentionCutoff with each hour of the retention period
// lasting hour (Options.RetentionHour).
func (st *Stream) retentionCutoff(now time.Time, hour time.Duration) int64 {
	cut := now.Add(-time.Duration(st.RetentionHours) * hour).UnixMilli()
	if st.RetentionFloor > cut {
		return st.RetentionFloor
	}
	return cut
}

// clone returns a copy of st that can be changed and published as a new
// snapshot. Slices and maps are copied; the copy is unpublished (rev kept).
func (st *Stream) clone() *Stream {
	c := *st
	c.Shards = append([]Shard(nil), st.Shards...)
	if st.Tags != nil {
		c.Tags = make(map[string]string, len(st.Tags))
		for k, v := range st.Tags {
			c.Tags[k] = v
		}
	}
	c.ShardLevelMetrics = append([]string(nil), st.ShardLevelMetrics...)
	return &c
}

// StreamARN returns the ARN of a stream.
func StreamARN(region, account, name string) string {
	return "arn:aws:kinesis:" + region + ":" + account + ":stream/" + name
}

// Options configure the domain.
type Options struct {
	Log     storage.Log
	Catalog storage.Catalog
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now

	IteratorTTL time.Duration
	// CreateDelay, DeleteDelay and UpdateDelay are how long a stream stays
	// CREATING, DELETING and UPDATING; 0 moves on before the call returns.
	CreateDelay, DeleteDelay, UpdateDelay time.Duration
	// ShardLimit is the per-account, per-region open shard quota;
	// OnDemandStreamLimit the quota of on-demand streams.
	ShardLimit, OnDemandStreamLimit int
	// RetentionCheckInterval is how often expired records are trimmed.
	RetentionCheckInterval time.Duration
	// RetentionHour is how long one hour of a retention period lasts (0:
	// an hour). Only retention benchmarks and tests shorten it, so that the
	// 24-hour minimum passes in seconds; every reader and the trimming
	// use it alike.
	RetentionHour time.Duration
	// CatalogSync, when above 0, is how often the streams and account
	// settings are read again from the catalog, so that the changes other
	// nodes of a cluster make show here (clustersync.go); 0 for a single
	// node, which alone writes its catalog.
	CatalogSync time.Duration
	// Limits are the per-shard throughput limits, Faults the injected
	// faults and Scaling the on-demand scaler (capacity.go).
	Limits  ThroughputLimits
	Faults  FaultOptions
	Scaling ScalingOptions
	// SubscriptionLifetime and SubscriptionHeartbeat are how long a
	// SubscribeToShard lasts and the longest it stays silent (0: AWS's 5
	// minutes and 5 seconds). ConsumerShardBytesPerSecond limits what one
	// consumer reads from one shard (0: no limit; AWS: 2 MiB/s).
	SubscriptionLifetime, SubscriptionHeartbeat time.Duration
	ConsumerShardBytesPerSecond                 int64
	// Peers connects the nodes of a cluster (peers.go); nil on a single
	// node.
	Peers Peers
	// Membership tells which nodes of a cluster are gone, so that a
	// reshard cut short by its node's death is finished at once
	// (reshardintent.go); nil: only its age tells.
	Membership Membership
	// Runner runs the on-demand scaler's deciding unit, under a lease in a
	// cluster so that one node reshards (autoscale.go); nil: this node
	// decides.
	Runner *background.Runner
	// KMS is the key service behind stream encryption (nil: a keyring in
	// memory, for a server whose data does not survive it either).
	KMS *kms.Keyring
	// ReadBufferBudget is the most memory GetRecords calls answered over
	// HTTP hold for their records at once (readbuf.go); 0:
	// DefaultReadBufferBudget.
	ReadBufferBudget int
}

// Defaults used for zero Options fields.
const (
	DefaultIteratorTTL            = 5 * time.Minute
	DefaultShardLimit             = 20000
	DefaultOnDemandStreamLimit    = 50
	DefaultRetentionCheckInterval = time.Minute
)

func (o *Options) ensureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.IteratorTTL <= 0 {
		o.IteratorTTL = DefaultIteratorTTL
	}
	if o.ShardLimit <= 0 {
		o.ShardLimit = DefaultShardLimit
	}
	if o.OnDemandStreamLimit <= 0 {
		o.OnDemandStreamLimit = DefaultOnDemandStreamLimit
	}
	if o.RetentionCheckInterval <= 0 {
		o.RetentionCheckInterval = DefaultRetentionCheckInterval
	}
	if o.RetentionHour <= 0 {
		o.RetentionHour = time.Hour
	}
}

// streamKey identifies a stream within the server.
type streamKey struct{ account, region, name string }

// Streams is the domain: every stream of every account and region, their
// lifecycle, limits and background retention.
type Streams struct {
	opts   Options
	log    storage.Log
	cat    storage.Catalog
	logger *slog.Logger
	keys   *keyring
	// readBufs lends GetRecords calls answered over HTTP their memory.
	readBufs *readBuffers

	// mu guards streams and accounts. The data path takes only RLock.
	mu       sync.RWMutex
	streams  map[streamKey]*Stream
	accounts map[accountKey]*AccountSettings

	// rs orders writes against reshards and remembers reclaimed shards.
	rs reshardState
	// capacity holds the throughput limiters, fault injection and the
	// on-demand scaler's state.
	capacity capacityState

	// appends wakes subscribers after appends; subs holds the live
	// subscriptions (notify.go, subscribe.go).
	appends appendSignal
	subs    subscriptions
	// peer is this node's link to the others of a cluster (peers.go).
	peer peerState

	// enc caches the data keys of encrypted records (encryption.go).
	enc encState

	// ctl serialises metadata changes: every control-plane change reads the
	// current snapshot, stores its successor with compare-and-set, then
	// publishes it, all under ctl.
	ctl sync.Mutex

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup
	closed bool
}

// New loads every stream from the catalog, resumes pending state
// transitions and starts the retention loop.
func New(ctx context.Context, opts Options) (*Streams, error) {
	if opts.Log == nil || opts.Catalog == nil {
		return nil, errors.New("streams: Options.Log and Options.Catalog are required")
	}
	opts.ensureDefaults()
	keys, err := loadKeyring(ctx, opts.Catalog)
	if err != nil {
		return nil, fmt.Errorf("streams: loading the server key: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	s := &Streams{
		opts:     opts,
		log:      opts.Log,
		cat:      opts.Catalog,
		logger:   opts.Logger,
		keys:     keys,
		streams:  make(map[streamKey]*Stream),
		accounts: make(map[accountKey]*AccountSettings),
		ctx:      bg,
		cancel:   cancel,
		readBufs: newReadBuffers(opts.ReadBufferBudget),
	}
	if err := s.load(ctx); err != nil {
		cancel()
		return nil, err
	}
	if err := s.initEncryption(ctx); err != nil {
		cancel()
		return nil, err
	}
	if err := s.resume(ctx); err != nil {
		cancel()
		s.wg.Wait()
		return nil, err
	}
	s.wg.Add(1)
	go s.retentionLoop()
	if opts.CatalogSync > 0 {
		s.wg.Add(1)
		go s.catalogSyncLoop()
	}
	s.initCapacity()
	if err := s.startPeers(); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// Close stops the background work (pending transitions resume at the next
// New) and waits for it to finish. It does not close the storage.
func (s *Streams) Close() error {
	s.ctl.Lock()
	s.closed = true
	s.ctl.Unlock()
	s.stopPeers()
	s.stopScaler()
	s.cancel()
	s.wg.Wait()
	return nil
}

func (s *Streams) now() time.Time { return s.opts.Now() }

// retentionCutoff is st's retention cutoff at now (Stream.RetentionCutoff)
// in this domain's retention hours.
func (s *Streams) retentionCutoff(st *Stream, now time.Time) int64 {
	return st.retentionCutoff(now, s.opts.RetentionHour)
}

// lookup returns the current snapshot of the stream ref names, without a
// catalog read.
func (s *Streams) lookup(ref StreamRef) (*Stream, error) {
	k, err := ref.key()
	if err != nil {
		return nil, err
	}
	s.mu.RLock()
	st := s.streams[k]
	s.mu.RUnlock()
	if st == nil && s.opts.CatalogSync > 0 {
		st = s.fetchMissing(k)
	}
	if st == nil {
		return nil, notFound(k)
	}
	return st, nil
}

// lookupLive is lookup for operations that treat a DELETING stream as gone.
func (s *Streams) lookupLive(ref StreamRef) (*Stream, error) {
	st, err := s.lookup(ref)
	if err != nil {
		return nil, err
	}
	if st.Status == StatusDeleting {
		return nil, notFound(streamKey{st.Account, st.Region, st.Name})
	}
	return st, nil
}

func notFound(k streamKey) *Error {
	return errorf(KindNotFound, "Stream %s under account %s not found.", k.name, k.account)
}

// key resolves a reference to a map key. An ARN's account and region win;
// a name and an ARN that disagree are rejected.
func (ref StreamRef) key() (streamKey, error) {
	k := streamKey{account: ref.Account, region: ref.Region, name: ref.Name}
	if ref.ARN != "" {
		region, account, name, ok := parseStreamARN(ref.ARN)
		if !ok {
			return k, errorf(KindInvalidArgument, "Invalid StreamARN %s.", ref.ARN)
		}
		if ref.Name != "" && ref.Name != name {
			return k, errorf(KindInvalidArgument, "StreamARN %s and StreamName %s do not refer to the same stream.", ref.ARN, ref.Name)
		}
		k = streamKey{account: account, region: region, name: name}
	}
	if k.name == "" {
		// DescribeStream and most operations list no ValidationException, so
		// AWS reports a missing stream identifier as an invalid argument.
		return k, errorf(KindInvalidArgument, "Either StreamName or StreamARN must be provided.")
	}
	return k, nil
}

// parseStreamARN splits arn:<partition>:kinesis:<region>:<account>:stream/<name>.
func parseStreamARN(arn string) (region, account, name string, ok bool) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || !strings.HasPrefix(parts[1], "aws") || parts[2] != "kinesis" {
		return "", "", "", false
	}
	rest, found := strings.CutPrefix(parts[5], "stream/")
	if !found || rest == "" || strings.Contains(rest, "/") || !validAccount(parts[4]) {
		return "", "", "", false
	}
	return parts[3], parts[4], rest, true
}

func validAccount(a string) bool {
	if len(a) != 12 {
		return false
	}
	for i := 0; i < len(a); i++ {
		if a[i] < '0' || a[i] > '9' {
			return false
		}
	}
	return true
}

// Describe returns the current snapshot of a stream; a DELETING stream is
// still described (AWS reports DELETING until it is gone).
func (s *Streams) Describe(ref StreamRef) (*Stream, error) { return s.lookup(ref) }

// IteratorStream names the stream a shard iterator reads, so that a
// GetRecords call can be authorized against that stream. An invalid or
// expired iterator gives the error GetRecords would.
func (s *Streams) IteratorStream(shardIterator string) (StreamRef, error) {
	it, err := s.keys.decodeIterator(shardIterator, s.now(), s.opts.IteratorTTL)
	if err != nil {
		return StreamRef{}, err
	}
	return StreamRef{Account: it.Account, Region: it.Region, Name: it.Name, ARN: StreamARN(it.Region, it.Account, it.Name)}, nil
}
