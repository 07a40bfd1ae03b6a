package streams

import (
	"encoding/binary"
	"time"
)

// ListShards paging: AWS documents a default of 1000 shards per call, and at
// most 1000 however large MaxResults is (the model allows up to 10000).
const (
	DefaultListShardsResults = 1000
	maxListShardsResults     = 1000
	maxListShardsMaxResults  = 10000
)

// Shard filter types.
const (
	FilterAfterShardID    = "AFTER_SHARD_ID"
	FilterAtTrimHorizon   = "AT_TRIM_HORIZON"
	FilterFromTrimHorizon = "FROM_TRIM_HORIZON"
	FilterAtLatest        = "AT_LATEST"
	FilterAtTimestamp     = "AT_TIMESTAMP"
	FilterFromTimestamp   = "FROM_TIMESTAMP"
)

// ShardFilter is a ListShards ShardFilter.
type ShardFilter struct {
	Type      string
	ShardID   string     // AFTER_SHARD_ID
	Timestamp *time.Time // AT_TIMESTAMP, FROM_TIMESTAMP
}

// ListShardsParams is a ListShards request. Ref has neither Name nor ARN when
// the request gives none.
type ListShardsParams struct {
	Ref                     StreamRef
	NextToken               string
	ExclusiveStartShardID   string
	MaxResults              int // 0: the default
	StreamCreationTimestamp *time.Time
	Filter                  *ShardFilter
}

// ShardPage is one page of ListShards.
type ShardPage struct {
	Stream    *Stream
	Shards    []*Shard
	NextToken string // "" on the last page
}

// shardQuery is what a ListShards NextToken carries: the stream incarnation
// and the resolved filter, so that the next page continues the same listing.
type shardQuery struct {
	streamID uint64
	after    int64 // list shards with an index above this; -1: from the first
	filter   byte  // filter kind, see below
	at       int64 // the filter's time (ms), when it has one
	account  string
	region   string
	name     string
}

// Resolved filter kinds. FROM_TRIM_HORIZON (also the default) and
// AFTER_SHARD_ID both list every shard whose records have not all expired.
const (
	qFromTrimHorizon byte = iota + 1
	qAtTrimHorizon
	qAtLatest
	qAtTimestamp
	qFromTimestamp
)

func (q *shardQuery) marshal() []byte {
	b := make([]byte, 0, 1+8+8+1+8+3+len(q.account)+len(q.region)+len(q.name))
	b = append(b, 1)
	b = binary.BigEndian.AppendUint64(b, q.streamID)
	b = binary.BigEndian.AppendUint64(b, uint64(q.after))
	b = append(b, q.filter)
	b = binary.BigEndian.AppendUint64(b, uint64(q.at))
	for _, s := range [...]string{q.account, q.region, q.name} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

func (q *shardQuery) unmarshal(b []byte) bool {
	if len(b) < 1+8+8+1+8 || b[0] != 1 {
		return false
	}
	q.streamID = binary.BigEndian.Uint64(b[1:])
	q.after = int64(binary.BigEndian.Uint64(b[9:]))
	q.filter = b[17]
	q.at = int64(binary.BigEndian.Uint64(b[18:]))
	b = b[26:]
	var f [3]string
	for i := range f {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return false
		}
		f[i] = string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
	}
	if len(b) != 0 || q.filter < qFromTrimHorizon || q.filter > qFromTimestamp {
		return false
	}
	q.account, q.region, q.name = f[0], f[1], f[2]
	return true
}

// ListShards lists a stream's shards in shard id order, with AWS's rules for
// NextToken (valid 300 seconds, exclusive with StreamName, StreamARN,
// StreamCreationTimestamp and ExclusiveStartShardId) and every ShardFilter.
// Shards whose records have all passed the retention period are not listed.
func (s *Streams) ListShards(p ListShardsParams) (*ShardPage, error) {
	max := p.MaxResults
	if max == 0 {
		max = DefaultListShardsResults
	}
	if max < 1 || max > maxListShardsMaxResults {
		return nil, errorf(KindInvalidArgument, "MaxResults %d is not in the range [1, %d].", max, maxListShardsMaxResults)
	}
	max = min(max, maxListShardsResults)
	now := s.now()

	var q shardQuery
	var st *Stream
	if p.NextToken != "" {
		switch {
		case p.Ref.Name != "":
			return nil, errorf(KindInvalidArgument, "NextToken and StreamName cannot be provided together.")
		case p.Ref.ARN != "":
			return nil, errorf(KindInvalidArgument, "NextToken and StreamARN cannot be provided together.")
		case p.StreamCreationTimestamp != nil:
			return nil, errorf(KindInvalidArgument, "NextToken and StreamCreationTimestamp cannot be provided together.")
		case p.ExclusiveStartShardID != "":
			return nil, errorf(KindInvalidArgument, "NextToken and ExclusiveStartShardId cannot be provided together.")
		}
		// A ShardFilter sent again with the token is ignored: the token
		// carries the listing's filter.
		payload, err := s.keys.openToken(purposeShardToken, p.NextToken, now)
		if err != nil {
			return nil, err
		}
		if !q.unmarshal(payload) {
			return nil, errorf(KindInvalidArgument, "Invalid NextToken.")
		}
		st, err = s.lookup(StreamRef{Account: q.account, Region: q.region, Name: q.name})
		if err != nil || st.ID != q.streamID {
			return nil, notFound(streamKey{q.account, q.region, q.name})
		}
	} else {
		if p.Ref.Name == "" && p.Ref.ARN == "" {
			return nil, errorf(KindInvalidArgument, "Either NextToken or StreamName should be provided.")
		}
		var err error
		if st, err = s.lookup(p.Ref); err != nil {
			return nil, err
		}
		if p.StreamCreationTimestamp != nil && p.StreamCreationTimestamp.Unix() != st.CreatedAt/1000 {
			// Another incarnation of the stream than the caller means.
			return nil, notFound(st.mapKey())
		}
		if q, err = resolveShardQuery(st, p, now); err != nil {
			return nil, err
		}
	}
	if st.Status == StatusCreating {
		return nil, errorf(KindInUse, "Stream %s under account %s not ACTIVE, instead in state CREATING", st.Name, st.Account)
	}

	page := &ShardPage{Stream: st}
	cutoff := s.retentionCutoff(st, now)
	for i := range st.Shards {
		sh := &st.Shards[i]
		if int64(sh.Index) <= q.after || !q.matches(st, sh, cutoff) {
			continue
		}
		if len(page.Shards) == max {
			q.after = int64(page.Shards[len(page.Shards)-1].Index)
			page.NextToken = s.keys.sealToken(purposeShardToken, now, q.marshal())
			break
		}
		page.Shards = append(page.Shards, sh)
	}
	return page, nil
}

// resolveShardQuery checks a first ListShards call's filter and fixes its
// meaning at the time of the call.
func resolveShardQuery(st *Stream, p ListShardsParams, now time.Time) (shardQuery, error) {
	q := shardQuery{streamID: st.ID, after: -1, filter: qFromTrimHorizon, account: st.Account, region: st.Region, name: st.Name}
	if p.ExclusiveStartShardID != "" {
		idx, ok := parseShardID(p.ExclusiveStartShardID)
		if !ok {
			return q, errorf(KindInvalidArgument, "Invalid ExclusiveStartShardId %s.", p.ExclusiveStartShardID)
		}
		q.after = int64(idx)
	}
	f := p.Filter
	if f == nil {
		return q, nil
	}
	switch f.Type {
	case FilterAfterShardID:
		if f.ShardID == "" {
			return q, errorf(KindInvalidArgument, "Must specify ShardId in ShardFilter when ShardFilter type is AFTER_SHARD_ID.")
		}
		idx, ok := parseShardID(f.ShardID)
		if !ok {
			return q, errorf(KindInvalidArgument, "Invalid ShardId %s in ShardFilter.", f.ShardID)
		}
		q.after = max(q.after, int64(idx))
	case FilterFromTrimHorizon:
	case FilterAtTrimHorizon:
		q.filter = qAtTrimHorizon
	case FilterAtLatest:
		q.filter = qAtLatest
	case FilterAtTimestamp, FilterFromTimestamp:
		if f.Timestamp == nil {
			return q, errorf(KindInvalidArgument, "Must specify Timestamp in ShardFilter when ShardFilter type is %s.", f.Type)
		}
		q.at = f.Timestamp.UnixMilli()
		q.filter = qAtTimestamp
		if f.Type == FilterFromTimestamp {
			q.filter = qFromTimestamp
		}
	default:
		return q, errorf(KindInvalidArgument, "Invalid ShardFilter type %s.", f.Type)
	}
	return q, nil
}

// openAt reports whether sh took writes at time t (ms).
func openAt(sh *Shard, t int64) bool {
	return sh.CreatedAt <= t && (sh.IsOpen() || sh.ClosedAt > t)
}

// matches applies the resolved filter to one shard. A closed shard whose
// records have all passed the retention period (it closed before the trim
// horizon) is never listed.
func (q *shardQuery) matches(st *Stream, sh *Shard, cutoff int64) bool {
	if !sh.IsOpen() && sh.ClosedAt <= cutoff {
		return false
	}
	switch q.filter {
	case qAtLatest:
		return sh.IsOpen()
	case qAtTrimHorizon:
		// The shards open at the trim horizon; for a stream younger than its
		// retention period, the shards it started with.
		return openAt(sh, max(cutoff, st.CreatedAt))
	case qAtTimestamp:
		return openAt(sh, max(q.at, st.CreatedAt))
	case qFromTimestamp:
		// Every shard open at the time or created since.
		return sh.IsOpen() || sh.ClosedAt >= q.at
	}
	return true
}
