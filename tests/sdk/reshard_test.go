package sdk_test

import (
	"context"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/millrace/millrace/internal/config"
)

func split(t *testing.T, c *kinesis.Client, name, shard string, key *big.Int) {
	t.Helper()
	if _, err := c.SplitShard(t.Context(), &kinesis.SplitShardInput{StreamName: aws.String(name), ShardToSplit: aws.String(shard), NewStartingHashKey: aws.String(key.String())}); err != nil {
		t.Fatalf("SplitShard(%s %s): %v", shard, key, err)
	}
}

func merge(t *testing.T, c *kinesis.Client, name, a, b string) {
	t.Helper()
	if _, err := c.MergeShards(t.Context(), &kinesis.MergeShardsInput{StreamName: aws.String(name), ShardToMerge: aws.String(a), AdjacentShardToMerge: aws.String(b)}); err != nil {
		t.Fatalf("MergeShards(%s %s): %v", a, b, err)
	}
}

func updateShardCount(ctx context.Context, c *kinesis.Client, name string, n int32) (*kinesis.UpdateShardCountOutput, error) {
	return c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String(name), TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling})
}

// openShards returns the open shards sorted by starting hash key.
func openShards(t *testing.T, c *kinesis.Client, name string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(t.Context(), &kinesis.ListShardsInput{StreamName: aws.String(name), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(out.Shards, func(a, b types.Shard) int {
		return mustBig(t, a.HashKeyRange.StartingHashKey).Cmp(mustBig(t, b.HashKeyRange.StartingHashKey))
	})
	return out.Shards
}

func middle(t *testing.T, sh types.Shard) *big.Int {
	m := new(big.Int).Add(mustBig(t, sh.HashKeyRange.StartingHashKey), mustBig(t, sh.HashKeyRange.EndingHashKey))
	return m.Rsh(m, 1)
}

func TestSplitAndMergeErrors(t *testing.T) {
	t.Parallel()
	_, c := start(t, withShardLimit(3))
	ctx := t.Context()
	createStream(t, c, "s", 2)
	sh := listShards(t, c, "s")[0]
	end := aws.ToString(sh.HashKeyRange.EndingHashKey)

	_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String(end)})
	wantCode(t, err, "InvalidArgumentException")
	wantMessage(t, err, "NewStartingHashKey "+end+" used in SplitShard() on shard shardId-000000000000 in stream s under account "+defaultAccount+
		" is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey "+end+".")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(9)), NewStartingHashKey: aws.String("5")})
	wantCode(t, err, "ResourceNotFoundException")
	wantMessage(t, err, "Could not find shard shardId-000000000009 in stream s under account "+defaultAccount+".")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("nope"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("5")})
	wantCode(t, err, "ResourceNotFoundException")

	split(t, c, "s", shardID(0), middle(t, sh))
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("5")})
	wantCode(t, err, "InvalidArgumentException")
	wantMessage(t, err, "Shard shardId-000000000000 in stream s under account "+defaultAccount+" has already been merged or split, and thus is not eligible for merging or splitting.")
	_, err = c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String(shardID(1)), NewStartingHashKey: aws.String(middle(t, listShards(t, c, "s")[1]).String())})
	wantCode(t, err, "LimitExceededException")
	wantMessage(t, err, "Limit: 3.")

	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(2)), AdjacentShardToMerge: aws.String(shardID(1))})
	wantCode(t, err, "InvalidArgumentException")
	wantMessage(t, err, "Shards shardId-000000000002 and shardId-000000000001 in stream s under account "+defaultAccount+" are not an adjacent pair of shards eligible for merging")
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(0)), AdjacentShardToMerge: aws.String(shardID(1))})
	wantMessage(t, err, "has already been merged or split")
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String(shardID(3)), AdjacentShardToMerge: aws.String(shardID(7))})
	wantCode(t, err, "ResourceNotFoundException")
}

func TestReshardOnDemandAndUpdating(t *testing.T) {
	t.Parallel()
	_, c := start(t, func(cfg *config.Config) { cfg.UpdateDelay = time.Hour })
	ctx := t.Context()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	waitActive(t, c, "od")
	onDemand := "Request is invalid. Stream od under account " + defaultAccount + " is in On-Demand mode."
	_, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("od"), ShardToSplit: aws.String(shardID(0)), NewStartingHashKey: aws.String("5")})
	wantCode(t, err, "ValidationException")
	wantMessage(t, err, onDemand)
	_, err = c.MergeShards(ctx, &kinesis.MergeShardsInput{StreamName: aws.String("od"), ShardToMerge: aws.String(shardID(0)), AdjacentShardToMerge: aws.String(shardID(1))})
	wantMessage(t, err, onDemand)
	_, err = updateShardCount(ctx, c, "od", 5)
	wantCode(t, err, "ValidationException")

	createStream(t, c, "p", 2)
	merge(t, c, "p", shardID(0), shardID(1))
	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("p")})
	if err != nil {
		t.Fatal(err)
	}
	if d.StreamDescription.StreamStatus != types.StreamStatusUpdating {
		t.Fatalf("status %s after MergeShards", d.StreamDescription.StreamStatus)
	}
	// Writes go to the child while UPDATING.
	if out := put(t, c, "p", "k", []byte("x")); aws.ToString(out.ShardId) != shardID(2) {
		t.Errorf("write during UPDATING went to %s", aws.ToString(out.ShardId))
	}
	_, err = updateShardCount(ctx, c, "p", 2)
	wantCode(t, err, "ResourceInUseException")
	wantMessage(t, err, "Stream p under account "+defaultAccount+" not ACTIVE, instead in state UPDATING")
}

func TestReshardLineageAndShardFilters(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := t.Context()
	createStream(t, c, "lin", 2)
	put(t, c, "lin", "a", []byte("a"))
	pause := func() time.Time {
		time.Sleep(20 * time.Millisecond)
		n := time.Now()
		time.Sleep(20 * time.Millisecond)
		return n
	}
	tBefore := pause()
	split(t, c, "lin", shardID(0), middle(t, listShards(t, c, "lin")[0]))
	tMid := pause()
	merge(t, c, "lin", shardID(3), shardID(1))

	d, err := c.DescribeStream(ctx, &kinesis.DescribeStreamInput{StreamName: aws.String("lin")})
	if err != nil {
		t.Fatal(err)
	}
	sh := d.StreamDescription.Shards
	if len(sh) != 5 {
		t.Fatalf("%d shards", len(sh))
	}
	for i, want := range [][2]string{{"", ""}, {"", ""}, {shardID(0), ""}, {shardID(0), ""}, {shardID(3), shardID(1)}} {
		if aws.ToString(sh[i].ParentShardId) != want[0] || aws.ToString(sh[i].AdjacentParentShardId) != want[1] {
			t.Errorf("%s: parents %q %q, want %v", aws.ToString(sh[i].ShardId), aws.ToString(sh[i].ParentShardId), aws.ToString(sh[i].AdjacentParentShardId), want)
		}
		closed := sh[i].SequenceNumberRange.EndingSequenceNumber != nil
		if closed != (i == 0 || i == 1 || i == 3) {
			t.Errorf("%s: EndingSequenceNumber %v", aws.ToString(sh[i].ShardId), aws.ToString(sh[i].SequenceNumberRange.EndingSequenceNumber))
		}
	}
	if mustBig(t, sh[4].HashKeyRange.StartingHashKey).Cmp(mustBig(t, sh[3].HashKeyRange.StartingHashKey)) != 0 ||
		mustBig(t, sh[4].HashKeyRange.EndingHashKey).Cmp(maxHashKey) != 0 {
		t.Errorf("merged child range %v", sh[4].HashKeyRange)
	}

	for _, c2 := range []struct {
		f    types.ShardFilter
		want []int
	}{
		{types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, []int{0, 1, 2, 3, 4}},
		{types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, []int{2, 4}},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, []int{0, 1}},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: &tBefore}, []int{0, 1}},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: &tMid}, []int{1, 2, 3}},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: &tMid}, []int{1, 2, 3, 4}},
		{types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(shardID(2))}, []int{3, 4}},
	} {
		out, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String("lin"), ShardFilter: &c2.f})
		if err != nil {
			t.Fatalf("%s: %v", c2.f.Type, err)
		}
		var got []int
		for _, s := range out.Shards {
			got = append(got, int(shardIndex(aws.ToString(s.ShardId))))
		}
		if !slices.Equal(got, c2.want) {
			t.Errorf("ListShards %s: %v, want %v", c2.f.Type, got, c2.want)
		}
	}

	// The closed parent reads to its end, then names its children.
	recs, children := readToEnd(t, c, "lin", shardID(0))
	if len(recs) > 1 || len(children) != 2 || aws.ToString(children[0].ShardId) != shardID(2) || children[0].ParentShards[0] != shardID(0) {
		t.Errorf("end of shard 0: %d records, children %+v", len(recs), children)
	}
}

func shardIndex(id string) int64 {
	n, _ := strconv.ParseInt(id[strings.LastIndexByte(id, '-')+1:], 10, 64)
	return n
}

// readToEnd reads a closed shard from the trim horizon to its end and
// returns its records and children.
func readToEnd(t *testing.T, c *kinesis.Client, stream, shard string) ([]types.Record, []types.ChildShard) {
	t.Helper()
	it := iterator(t, c, stream, shard, types.ShardIteratorTypeTrimHorizon, nil, nil)
	var recs []types.Record
	for {
		out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords(%s): %v", shard, err)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil {
			return recs, out.ChildShards
		}
		if len(out.Records) == 0 && len(out.ChildShards) == 0 {
			return recs, nil // an open shard, caught up
		}
		it = aws.ToString(out.NextShardIterator)
	}
}

// checkEven checks that the open shards are n ranges of about 2^128/n.
func checkEven(t *testing.T, c *kinesis.Client, name string, n int) {
	t.Helper()
	open := openShards(t, c, name)
	if len(open) != n {
		t.Fatalf("%d open shards, want %d", len(open), n)
	}
	want := initialRanges(n)
	tol := new(big.Int).Rsh(new(big.Int).Sub(want[0][1], want[0][0]), 30)
	next := big.NewInt(0)
	for i, sh := range open {
		lo, hi := mustBig(t, sh.HashKeyRange.StartingHashKey), mustBig(t, sh.HashKeyRange.EndingHashKey)
		if lo.Cmp(next) != 0 {
			t.Fatalf("open shard %d starts at %s, want %s", i, lo, next)
		}
		if d := new(big.Int).Sub(lo, want[i][0]); d.Abs(d).Cmp(tol) > 0 {
			t.Errorf("open shard %d starts at %s, want about %s", i, lo, want[i][0])
		}
		next = new(big.Int).Add(hi, big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Errorf("open shards end at %s", next)
	}
}

func TestUpdateShardCountUpAndDown(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := t.Context()
	createStream(t, c, "u", 3)
	cur := int32(3)
	for _, n := range []int32{6, 3, 5, 4, 8, 4, 2, 1, 2, 1} {
		out, err := updateShardCount(ctx, c, "u", n)
		if err != nil {
			t.Fatalf("%d -> %d: %v", cur, n, err)
		}
		if aws.ToInt32(out.CurrentShardCount) != cur || aws.ToInt32(out.TargetShardCount) != n ||
			aws.ToString(out.StreamName) != "u" || aws.ToString(out.StreamARN) != streamARN("u") {
			t.Errorf("output %+v", out)
		}
		waitActive(t, c, "u")
		checkEven(t, c, "u", int(n))
		cur = n
	}
	_, err := updateShardCount(ctx, c, "u", 2)
	wantCode(t, err, "LimitExceededException")
	wantMessage(t, err, "UpdateShardCount failed for stream u under account "+defaultAccount+". Cannot update the shard count more than 10 times in a rolling 24 hour period.")

	createStream(t, c, "v", 4)
	_, err = updateShardCount(ctx, c, "v", 9)
	wantCode(t, err, "LimitExceededException")
	wantMessage(t, err, "UpdateShardCount failed for stream v under account "+defaultAccount+". Cannot scale up to more than double the current open shard count: 4")
	_, err = updateShardCount(ctx, c, "v", 1)
	wantMessage(t, err, "Cannot scale down to less than half the current open shard count: 4")
	_, err = c.UpdateShardCount(ctx, &kinesis.UpdateShardCountInput{StreamName: aws.String("v"), TargetShardCount: aws.Int32(4), ScalingType: "OTHER"})
	wantCode(t, err, "ValidationException")
	if _, err := updateShardCount(ctx, c, "v", 8); err != nil {
		t.Fatal(err)
	}
	checkEven(t, c, "v", 8)
	if _, err := updateShardCount(ctx, c, "v", 4); err != nil {
		t.Fatal(err)
	}
	checkEven(t, c, "v", 4)
}

// Writers keep putting while the stream is split, merged and rescaled; a
// consumer that reads every parent to its end before its children sees every
// acknowledged record exactly once, in order per partition key.
func TestReshardReadThrough(t *testing.T) {
	t.Parallel()
	_, c := start(t)
	ctx := t.Context()
	createStream(t, c, "rt", 2)

	const writers, keys = 4, 16
	var acks atomic.Int64
	acked := make([]map[string]int, writers)
	stop := make(chan struct{})
	errs := make(chan error, writers)
	var wg sync.WaitGroup
	for w := range writers {
		acked[w] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var entries []types.PutRecordsRequestEntry
				for k := range keys {
					key := fmt.Sprintf("w%d-%d", w, k)
					entries = append(entries, types.PutRecordsRequestEntry{PartitionKey: aws.String(key), Data: []byte(key + ":" + strconv.Itoa(acked[w][key]))})
				}
				out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("rt"), Records: entries})
				if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
					errs <- fmt.Errorf("PutRecords: %v", err)
					return
				}
				for _, e := range entries {
					acked[w][aws.ToString(e.PartitionKey)]++
				}
				acks.Add(1)
			}
		}()
	}
	waitPuts := func() {
		n := acks.Load()
		for acks.Load() < n+8 {
			select {
			case err := <-errs:
				t.Fatal(err)
			case <-time.After(time.Millisecond):
			}
		}
	}
	steps := []func(){
		func() { o := openShards(t, c, "rt"); split(t, c, "rt", aws.ToString(o[0].ShardId), middle(t, o[0])) },
		func() {
			o := openShards(t, c, "rt")
			merge(t, c, "rt", aws.ToString(o[1].ShardId), aws.ToString(o[0].ShardId))
		},
		func() {
			if _, err := updateShardCount(ctx, c, "rt", 4); err != nil {
				t.Fatal(err)
			}
		},
		func() { o := openShards(t, c, "rt"); split(t, c, "rt", aws.ToString(o[3].ShardId), middle(t, o[3])) },
		func() {
			if _, err := updateShardCount(ctx, c, "rt", 3); err != nil {
				t.Fatal(err)
			}
		},
		func() {
			o := openShards(t, c, "rt")
			merge(t, c, "rt", aws.ToString(o[0].ShardId), aws.ToString(o[1].ShardId))
		},
	}
	for _, step := range steps {
		waitPuts()
		step()
	}
	waitPuts()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Follow the lineage: start from the shards without parents; a child is
	// read once all its parents have been read to their ends.
	all := listShards(t, c, "rt")
	parents := map[string][]string{}
	var queue []string
	for _, s := range all {
		id := aws.ToString(s.ShardId)
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p != nil {
				parents[id] = append(parents[id], *p)
			}
		}
		if len(parents[id]) == 0 {
			queue = append(queue, id)
		}
	}
	done, queued := map[string]bool{}, map[string]bool{}
	byKey := map[string][]string{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		recs, children := readToEnd(t, c, "rt", id)
		for _, r := range recs {
			byKey[aws.ToString(r.PartitionKey)] = append(byKey[aws.ToString(r.PartitionKey)], string(r.Data))
		}
		done[id] = true
		for _, ch := range children {
			cid := aws.ToString(ch.ShardId)
			ready := !queued[cid]
			for _, p := range ch.ParentShards {
				ready = ready && done[p]
			}
			if ready {
				queued[cid] = true
				queue = append(queue, cid)
			}
		}
	}
	if len(done) != len(all) {
		t.Errorf("read %d of %d shards", len(done), len(all))
	}
	total := 0
	for w := range writers {
		for key, n := range acked[w] {
			total += n
			got := byKey[key]
			if len(got) != n {
				t.Errorf("key %s: read %d records, %d acknowledged", key, len(got), n)
			}
			for i, d := range got {
				if d != key+":"+strconv.Itoa(i) {
					t.Errorf("key %s: record %d is %q", key, i, d)
					break
				}
			}
		}
	}
	if total == 0 || len(byKey) != writers*keys {
		t.Errorf("%d records under %d keys", total, len(byKey))
	}
}
