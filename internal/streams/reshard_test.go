package streams

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// midKey returns the middle of a shard's hash key range.
func midKey(sh *Shard) string {
	m := new(big.Int).Add(sh.StartingHashKey.Big(), sh.EndingHashKey.Big())
	return m.Rsh(m, 1).String()
}

func openByStart(t *testing.T, e *env, name string) []*Shard {
	t.Helper()
	return e.describe(name).OpenShards()
}

func TestSplitShardErrorsAndLineage(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(o *Options) { o.ShardLimit = 4 })
	e.create("s", 2)
	st := e.describe("s")
	sh0 := st.Shards[0]

	wantErr(t, e.s.SplitShard(ctx, ref("nope"), "shardId-000000000000", "5"), KindNotFound, "Stream nope under account "+acct+" not found.")
	wantErr(t, e.s.SplitShard(ctx, ref("s"), "shardId-000000000007", "5"), KindNotFound,
		"Could not find shard shardId-000000000007 in stream s under account "+acct+".")
	for _, k := range []string{"0", "1", sh0.EndingHashKey.String(), sh0.StartingHashKey.Add1().String(), "340282366920938463463374607431768211456"} {
		wantErr(t, e.s.SplitShard(ctx, ref("s"), "shardId-000000000000", k), KindInvalidArgument,
			"NewStartingHashKey "+k+" used in SplitShard() on shard shardId-000000000000 in stream s under account "+acct+
				" is not both greater than one plus the shard's StartingHashKey 0 and less than the shard's EndingHashKey "+sh0.EndingHashKey.String()+".")
	}

	put(t, e, "s", PutEntry{Data: []byte("before"), ExplicitHashKey: "10"})
	if err := e.s.SplitShard(ctx, ref("s"), "shardId-000000000000", "2"); err != nil {
		t.Fatal(err)
	}
	st = e.describe("s")
	if len(st.Shards) != 4 || st.Status != StatusActive {
		t.Fatalf("after split: %d shards, %s", len(st.Shards), st.Status)
	}
	p, lo, hi := st.Shards[0], st.Shards[2], st.Shards[3]
	if p.IsOpen() || p.EndingSeq == 0 || st.EndingSequenceNumber(&p) == "" {
		t.Errorf("parent not closed with its last record: %+v", p)
	}
	if lo.ParentIndex != 0 || hi.ParentIndex != 0 || lo.AdjacentParentIndex != -1 ||
		lo.StartingHashKey.String() != "0" || lo.EndingHashKey.String() != "1" ||
		hi.StartingHashKey.String() != "2" || hi.EndingHashKey != p.EndingHashKey {
		t.Errorf("children %+v %+v", lo, hi)
	}
	wantErr(t, e.s.SplitShard(ctx, ref("s"), "shardId-000000000000", "5"), KindInvalidArgument,
		"Shard shardId-000000000000 in stream s under account "+acct+" has already been merged or split, and thus is not eligible for merging or splitting.")
	wantErr(t, e.s.MergeShards(ctx, ref("s"), "shardId-000000000000", "shardId-000000000001"), KindInvalidArgument,
		"has already been merged or split")

	// Three open shards; the limit of four allows one more split only.
	if err := e.s.SplitShard(ctx, ref("s"), "shardId-000000000001", midKey(&st.Shards[1])); err != nil {
		t.Fatal(err)
	}
	wantErr(t, e.s.SplitShard(ctx, ref("s"), "shardId-000000000004", midKey(&e.describe("s").Shards[4])), KindLimitExceeded,
		"This request would exceed the shard limit for the account "+acct+" in "+region+". Current shard count for the account: 4. Limit: 4. Number of additional shards that would have resulted from this request: 1.")

	// The closed parent reads to its end, then names its children.
	res := get(t, e, iter(t, e, "s", "shardId-000000000000", TrimHorizon, ""), 0)
	if len(res.Records) != 1 || res.NextShardIterator != "" || len(res.ChildShards) != 2 ||
		res.ChildShards[0].ShardID != "shardId-000000000002" || res.ChildShards[0].ParentShards[0] != "shardId-000000000000" {
		t.Errorf("closed parent read: %+v", res)
	}
	res = get(t, e, iter(t, e, "s", "shardId-000000000000", Latest, ""), 0)
	if len(res.Records) != 0 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Errorf("LATEST on a closed parent: %+v", res)
	}
}

func TestReshardRefusedOnDemandAndWhenNotActive(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(o *Options) { o.UpdateDelay = time.Hour })
	if err := e.s.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "od", Mode: ModeOnDemand}); err != nil {
		t.Fatal(err)
	}
	msg := "Request is invalid. Stream od under account " + acct + " is in On-Demand mode."
	wantErr(t, e.s.SplitShard(ctx, ref("od"), "shardId-000000000000", "5"), KindValidation, msg)
	wantErr(t, e.s.MergeShards(ctx, ref("od"), "shardId-000000000000", "shardId-000000000001"), KindValidation, msg)
	_, err := e.s.UpdateShardCount(ctx, ref("od"), 5, UniformScaling)
	wantErr(t, err, KindValidation, msg)

	e.create("p", 2)
	if err := e.s.MergeShards(ctx, ref("p"), "shardId-000000000001", "shardId-000000000000"); err != nil {
		t.Fatal(err)
	}
	st := e.describe("p")
	if st.Status != StatusUpdating || len(st.OpenShards()) != 1 {
		t.Fatalf("after merge: %s, %d open", st.Status, len(st.OpenShards()))
	}
	c := st.Shards[2]
	if c.ParentIndex != 1 || c.AdjacentParentIndex != 0 || c.StartingHashKey != (HashKey{}) || c.EndingHashKey != MaxHashKey {
		t.Errorf("merged child %+v", c)
	}
	// Writes and reads work while UPDATING, on the child.
	r := put(t, e, "p", PutEntry{Data: []byte("x"), PartitionKey: "k"})
	if r.Records[0].ShardID != "shardId-000000000002" {
		t.Errorf("write during UPDATING went to %s", r.Records[0].ShardID)
	}
	notActive := "Stream p under account " + acct + " not ACTIVE, instead in state UPDATING"
	wantErr(t, e.s.SplitShard(ctx, ref("p"), "shardId-000000000002", "5"), KindInUse, notActive)
	_, err = e.s.UpdateShardCount(ctx, ref("p"), 2, UniformScaling)
	wantErr(t, err, KindInUse, notActive)
}

func TestMergeShardsNotAdjacent(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.create("s", 3)
	wantErr(t, e.s.MergeShards(ctx, ref("s"), "shardId-000000000000", "shardId-000000000002"), KindInvalidArgument,
		"Shards shardId-000000000000 and shardId-000000000002 in stream s under account "+acct+" are not an adjacent pair of shards eligible for merging")
	wantErr(t, e.s.MergeShards(ctx, ref("s"), "shardId-000000000001", "shardId-000000000001"), KindInvalidArgument, "not an adjacent pair")
	wantErr(t, e.s.MergeShards(ctx, ref("s"), "shardId-000000000001", "shardId-000000000009"), KindNotFound,
		"Could not find shard shardId-000000000009 in stream s under account "+acct+".")
}

// checkUniform checks that the open shards cover the hash key space with n
// ranges within a hair of 2^128/n each.
func checkUniform(t *testing.T, open []*Shard, n int) {
	t.Helper()
	if len(open) != n {
		t.Fatalf("%d open shards, want %d", len(open), n)
	}
	starts, _ := InitialRanges(n)
	width := new(big.Int).Div(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(int64(n)))
	tol := new(big.Int).Rsh(width, 30)
	next := HashKey{}
	for i, sh := range open {
		if sh.StartingHashKey != next {
			t.Fatalf("shard %d starts at %s, want %s (gap or overlap)", i, sh.StartingHashKey, next)
		}
		d := new(big.Int).Sub(sh.StartingHashKey.Big(), starts[i].Big())
		if d.Abs(d).Cmp(tol) > 0 {
			t.Errorf("shard %d starts at %s, want about %s", i, sh.StartingHashKey, starts[i])
		}
		next = sh.EndingHashKey.Add1()
	}
	if open[n-1].EndingHashKey != MaxHashKey {
		t.Errorf("last shard ends at %s", open[n-1].EndingHashKey)
	}
}

func TestUpdateShardCountUniform(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	for _, c := range []struct {
		name  string
		start int
		steps []int
	}{
		{"a", 3, []int{6, 3, 5, 4, 8, 4, 7, 4, 2, 1}},
		{"b", 4, []int{8, 4}},
		{"c", 1, []int{2, 1, 2, 3}},
	} {
		e.create(c.name, c.start)
		cur := c.start
		for _, n := range c.steps {
			res, err := e.s.UpdateShardCount(ctx, ref(c.name), n, UniformScaling)
			if err != nil {
				t.Fatalf("%s: %d -> %d: %v", c.name, cur, n, err)
			}
			if res.Current != cur || res.Target != n || res.Stream.Name != c.name {
				t.Errorf("%s: result %+v", c.name, res)
			}
			checkUniform(t, openByStart(t, e, c.name), n)
			cur = n
		}
	}
	// Doubling and halving a uniform stream take one split or merge per
	// shard: no short-lived shards.
	st := e.describe("b")
	if len(st.Shards) != 4+8+4 {
		t.Errorf("4 -> 8 -> 4 made %d shards, want 16", len(st.Shards))
	}
}

func TestUpdateShardCountLimits(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, func(o *Options) { o.ShardLimit = 12 })
	e.create("s", 3)
	fail := "UpdateShardCount failed for stream s under account " + acct + ". "
	_, err := e.s.UpdateShardCount(ctx, ref("s"), 7, UniformScaling)
	wantErr(t, err, KindLimitExceeded, fail+"Cannot scale up to more than double the current open shard count: 3")
	_, err = e.s.UpdateShardCount(ctx, ref("s"), 1, UniformScaling)
	wantErr(t, err, KindLimitExceeded, fail+"Cannot scale down to less than half the current open shard count: 3")
	_, err = e.s.UpdateShardCount(ctx, ref("s"), 3, "SPLIT")
	wantErr(t, err, KindValidation, "Member must satisfy enum value set: [UNIFORM_SCALING]")
	e.create("t", 8)
	_, err = e.s.UpdateShardCount(ctx, ref("s"), 6, UniformScaling)
	wantErr(t, err, KindLimitExceeded, "Current shard count for the account: 11. Limit: 12. Number of additional shards that would have resulted from this request: 3.")

	// Ten calls per rolling 24 hours.
	for i := 0; i < 10; i++ {
		if _, err := e.s.UpdateShardCount(ctx, ref("s"), 3+i%2, UniformScaling); err != nil {
			t.Fatalf("call %d: %v", i+1, err)
		}
		e.clk.advance(time.Hour)
	}
	_, err = e.s.UpdateShardCount(ctx, ref("s"), 4, UniformScaling)
	wantErr(t, err, KindLimitExceeded, fail+"Cannot update the shard count more than 10 times in a rolling 24 hour period.")
	e.clk.advance(15 * time.Hour) // the first call is now 25 h old
	if _, err := e.s.UpdateShardCount(ctx, ref("s"), 4, UniformScaling); err != nil {
		t.Fatalf("after the window moved: %v", err)
	}
	// The history survives a restart: nine calls are in the window now.
	e.restart(func(o *Options) { o.ShardLimit = 12 })
	if _, err := e.s.UpdateShardCount(ctx, ref("s"), 3, UniformScaling); err != nil {
		t.Fatalf("tenth call in the window: %v", err)
	}
	_, err = e.s.UpdateShardCount(ctx, ref("s"), 4, UniformScaling)
	wantErr(t, err, KindLimitExceeded, "more than 10 times")
}

func TestExpiredClosedShardReclaimed(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.create("s", 1)
	put(t, e, "s", PutEntry{Data: []byte("old"), PartitionKey: "k"})
	if err := e.s.SplitShard(ctx, ref("s"), "shardId-000000000000", midKey(&e.describe("s").Shards[0])); err != nil {
		t.Fatal(err)
	}
	it := iter(t, e, "s", "shardId-000000000000", TrimHorizon, "")
	e.clk.advance(25 * time.Hour)
	e.s.trimAll(ctx)
	st := e.describe("s")
	if !e.log.wasDeleted(st.Key(0)) || e.log.wasDeleted(st.Key(1)) {
		t.Errorf("reclaimed: parent %v, child %v", e.log.wasDeleted(st.Key(0)), e.log.wasDeleted(st.Key(1)))
	}
	page, err := e.s.ListShards(ListShardsParams{Ref: ref("s")})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Shards) != 2 || page.Shards[0].Index != 1 {
		t.Errorf("listing after expiry: %d shards", len(page.Shards))
	}
	// A reader still holding an iterator on the parent moves on to the
	// children.
	e.clk.advance(-25*time.Hour + time.Minute)
	res := get(t, e, it, 0)
	if len(res.Records) != 0 || res.NextShardIterator != "" || len(res.ChildShards) != 2 {
		t.Errorf("read of a reclaimed shard: %+v", res)
	}
}

// readLineage reads every shard of a stream from the trim horizon, each
// parent to its end before any of its children (following ChildShards and
// ParentIndex), and returns the data of every record in read order per
// partition key.
func readLineage(t *testing.T, e *env, name string) map[string][]string {
	t.Helper()
	st := e.describe(name)
	done := map[string]bool{}
	started := map[string]bool{}
	var queue []string
	for i := range st.Shards {
		if st.Shards[i].ParentIndex < 0 {
			queue = append(queue, st.Shards[i].ID())
			started[st.Shards[i].ID()] = true
		}
	}
	parents := func(id string) []string {
		idx, _ := parseShardID(id)
		sh := &e.describe(name).Shards[idx]
		var out []string
		for _, p := range []int64{sh.ParentIndex, sh.AdjacentParentIndex} {
			if p >= 0 {
				out = append(out, fmt.Sprintf("shardId-%012d", p))
			}
		}
		return out
	}
	byKey := map[string][]string{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		it := iter(t, e, name, id, TrimHorizon, "")
		for it != "" {
			res := get(t, e, it, 1000)
			for _, r := range res.Records {
				byKey[r.PartitionKey] = append(byKey[r.PartitionKey], string(r.Data))
			}
			it = res.NextShardIterator
			if it != "" && len(res.Records) == 0 {
				if sh := &e.describe(name).Shards[mustIdx(id)]; sh.IsOpen() {
					break // caught up with an open shard
				}
			}
			for _, c := range res.ChildShards {
				if started[c.ShardID] {
					continue
				}
				ready := true
				for _, p := range parents(c.ShardID) {
					if p != id && !done[p] {
						ready = false
					}
				}
				if ready {
					started[c.ShardID] = true
					queue = append(queue, c.ShardID)
				}
			}
		}
		done[id] = true
	}
	if len(started) != len(e.describe(name).Shards) {
		t.Errorf("lineage reached %d of %d shards", len(started), len(e.describe(name).Shards))
	}
	return byKey
}

func mustIdx(id string) uint32 { idx, _ := parseShardID(id); return idx }

// checkExactlyOnce checks that each key's records are the counters 0..n-1
// in order.
func checkExactlyOnce(t *testing.T, byKey map[string][]string, acked map[string]int) {
	t.Helper()
	total := 0
	for k, n := range acked {
		got := byKey[k]
		total += n
		if len(got) != n {
			t.Errorf("key %s: read %d records, %d acknowledged", k, len(got), n)
		}
		for i, d := range got {
			if want := k + ":" + strconv.Itoa(i); d != want {
				t.Errorf("key %s: record %d is %q, want %q", k, i, d, want)
				break
			}
		}
	}
	if len(byKey) != len(acked) {
		t.Errorf("read %d keys, wrote %d", len(byKey), len(acked))
	}
	if total == 0 {
		t.Error("nothing was written")
	}
}

// Concurrent writers keep putting while the stream is split, merged and
// scaled; a reader that follows the lineage sees every acknowledged record
// once, in order per partition key.
func TestReshardReadThroughWithConcurrentWriters(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	e.create("s", 2)
	const writers, keysPerWriter = 4, 12
	stop := make(chan struct{})
	var wg sync.WaitGroup
	acked := make([]map[string]int, writers)
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		acked[w] = map[string]int{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; ; round++ {
				select {
				case <-stop:
					return
				default:
				}
				var entries []PutEntry
				for k := 0; k < keysPerWriter; k++ {
					key := fmt.Sprintf("w%d-k%d", w, k)
					entries = append(entries, PutEntry{PartitionKey: key, Data: []byte(key + ":" + strconv.Itoa(acked[w][key]))})
				}
				if round%3 == 0 {
					// One PutRecord per key.
					for _, en := range entries {
						if _, _, err := e.s.PutRecord(ctx, ref("s"), en, ""); err != nil {
							errs <- err
							return
						}
						acked[w][en.PartitionKey]++
					}
					continue
				}
				res, err := e.s.PutRecords(ctx, ref("s"), entries)
				if err != nil || res.FailedCount != 0 {
					errs <- fmt.Errorf("PutRecords: %v, %d failed", err, res.FailedCount)
					return
				}
				for _, en := range entries {
					acked[w][en.PartitionKey]++
				}
			}
		}()
	}
	waitWrites := func() {
		n := e.log.count()
		for e.log.count() < n+40 {
			time.Sleep(time.Millisecond)
		}
	}
	reshards := []func() error{
		func() error {
			sh := openByStart(t, e, "s")[0]
			return e.s.SplitShard(ctx, ref("s"), sh.ID(), midKey(sh))
		},
		func() error {
			o := openByStart(t, e, "s")
			return e.s.MergeShards(ctx, ref("s"), o[1].ID(), o[0].ID())
		},
		func() error { _, err := e.s.UpdateShardCount(ctx, ref("s"), 4, UniformScaling); return err },
		func() error {
			sh := openByStart(t, e, "s")[2]
			return e.s.SplitShard(ctx, ref("s"), sh.ID(), midKey(sh))
		},
		func() error { _, err := e.s.UpdateShardCount(ctx, ref("s"), 3, UniformScaling); return err },
		func() error {
			o := openByStart(t, e, "s")
			return e.s.MergeShards(ctx, ref("s"), o[1].ID(), o[2].ID())
		},
		func() error { _, err := e.s.UpdateShardCount(ctx, ref("s"), 4, UniformScaling); return err },
	}
	for i, f := range reshards {
		waitWrites()
		if err := f(); err != nil {
			t.Fatalf("reshard %d: %v", i, err)
		}
	}
	waitWrites()
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	all := map[string]int{}
	for _, m := range acked {
		for k, n := range m {
			all[k] = n
		}
	}
	checkExactlyOnce(t, readLineage(t, e, "s"), all)
	if st := e.describe("s"); len(st.Shards) < 10 || !strings.HasPrefix(st.Shards[len(st.Shards)-1].ID(), "shardId-") {
		t.Errorf("only %d shards after the reshards", len(st.Shards))
	}
}

// count returns how many records the log holds.
func (l *memLog) count() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, rs := range l.recs {
		n += len(rs)
	}
	return n
}

// TestReshardCutShortIsFinished cuts a split short between closing the
// parent's log and storing the new layout, as a node killed there would:
// the parent refuses writes while the catalog lists it open. Once the
// reshard's intent is old enough, writes through the other node finish it
// (both nodes trying at once store it once), writes go through again, and
// every acknowledged record is read back where it was acknowledged.
func TestReshardCutShortIsFinished(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	if err := n1.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "cut", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	type ack struct{ shard, seq string }
	acked := map[string]ack{}
	next := 0
	// write puts 20 records with spread keys through n; it reports how
	// many failed.
	write := func(n *Streams) int {
		var entries []PutEntry
		for range 20 {
			entries = append(entries, PutEntry{PartitionKey: "k-" + strconv.Itoa(next), Data: []byte("r-" + strconv.Itoa(next))})
			next++
		}
		res, err := n.PutRecords(ctx, ref("cut"), entries)
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res.Records {
			if r.ErrorCode == "" {
				acked[string(entries[i].Data)] = ack{r.ShardID, r.SequenceNumber}
			}
		}
		return res.FailedCount
	}
	for _, n := range c.nodes {
		if f := write(n); f != 0 {
			t.Fatalf("%d records refused before the reshard", f)
		}
	}

	n1.rs.hooks.afterClose = func() error { return errors.New("node killed") }
	st := c.stored(t, "cut")
	if err := n1.SplitShard(ctx, ref("cut"), "shardId-000000000000", midKey(&st.Shards[0])); err == nil {
		t.Fatal("SplitShard cut short succeeded")
	}
	n1.rs.hooks.afterClose = nil
	if st := c.stored(t, "cut"); len(st.Shards) != 2 || !st.Shards[0].IsOpen() {
		t.Fatalf("after the cut the catalog holds %d shards, shard 0 open %v", len(st.Shards), st.Shards[0].IsOpen())
	}
	if f := write(n2); f == 0 {
		t.Fatal("the closed parent took writes")
	}
	if f := write(n2); f == 0 {
		t.Fatal("a reshard running on its node (its intent younger than the grace) was finished by another")
	}

	c.clk.advance(reshardIntentGrace)
	n1.recoverReshard(n1.current(streamKey{acct, region, "cut"})) // both nodes at once
	eventually(t, "writes through node 2 to go through", func() bool { return write(n2) == 0 })

	st = c.stored(t, "cut")
	if len(st.Shards) != 4 || st.Shards[0].IsOpen() || !st.Shards[2].IsOpen() || !st.Shards[3].IsOpen() || st.Shards[2].ParentIndex != 0 {
		t.Fatalf("stored layout %+v, want shard 0 split into 2 and 3", st.Shards)
	}
	eventually(t, "the intent to be dropped", func() bool {
		_, _, err := c.cat.Get(ctx, reshardIntentKey(st.ID))
		return errors.Is(err, storage.ErrNotFound)
	})
	// Node 1 routes by the layout it knew until a refused write makes it
	// read the stored one.
	eventually(t, "writes through node 1 to go through", func() bool { return write(n1) == 0 })

	// Every acknowledged record, read through node 1, is where its
	// acknowledgement said.
	seen := map[string]bool{}
	for _, sh := range st.Shards {
		it, err := n1.GetShardIterator(ctx, IteratorParams{Ref: ref("cut"), ShardID: sh.ID(), Type: TrimHorizon})
		if err != nil {
			t.Fatalf("%s: %v", sh.ID(), err)
		}
		for it != "" {
			res, err := n1.GetRecords(ctx, it, 0)
			if err != nil {
				t.Fatalf("%s: %v", sh.ID(), err)
			}
			for _, r := range res.Records {
				a, ok := acked[string(r.Data)]
				if !ok || a.shard != sh.ID() || a.seq != r.SequenceNumber || seen[string(r.Data)] {
					t.Fatalf("read %s from %s at %s; acknowledged %+v (%v), seen before %v", r.Data, sh.ID(), r.SequenceNumber, a, ok, seen[string(r.Data)])
				}
				seen[string(r.Data)] = true
			}
			it = res.NextShardIterator
			if len(res.Records) == 0 && sh.IsOpen() {
				break
			}
		}
	}
	if len(seen) != len(acked) {
		t.Fatalf("%d of %d acknowledged records read back", len(seen), len(acked))
	}
	t.Logf("%d records acknowledged and read back", len(acked))
}

// TestReshardStoresOverAConcurrentChange changes the stream through
// another node while a reshard has closed the parents: the reshard stores
// its layout over the change at once, keeping the change.
func TestReshardStoresOverAConcurrentChange(t *testing.T) {
	ctx := context.Background()
	c := newCluster(t, 2)
	n1, n2 := c.nodes[0], c.nodes[1]
	if err := n1.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "cc", ShardCount: 2}); err != nil {
		t.Fatal(err)
	}
	n1.rs.hooks.afterClose = func() error { return n2.IncreaseRetention(ctx, ref("cc"), 48) }
	st := c.stored(t, "cc")
	if err := n1.SplitShard(ctx, ref("cc"), "shardId-000000000001", midKey(&st.Shards[1])); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	st = c.stored(t, "cc")
	if len(st.Shards) != 4 || st.Shards[1].IsOpen() || st.RetentionHours != 48 {
		t.Fatalf("stored %d shards, shard 1 open %v, retention %d h; want the split and 48 h", len(st.Shards), st.Shards[1].IsOpen(), st.RetentionHours)
	}
	if _, _, err := c.cat.Get(ctx, reshardIntentKey(st.ID)); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("the reshard's intent is left: %v", err)
	}
}

// members is a cluster's membership as the test sets it: which nodes
// are gone.
type members struct {
	mu   sync.Mutex
	gone map[string]bool
}

func (m *members) setGone(name string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.gone[name] = true
}

// nodeView is one node's view of members.
type nodeView struct {
	m    *members
	self string
}

func (v nodeView) Self() string { return v.self }
func (v nodeView) Gone(name string) bool {
	v.m.mu.Lock()
	defer v.m.mu.Unlock()
	return v.m.gone[name]
}

// TestReshardCutShortByAGoneNode cuts a split short on node 1 and lets
// node 2 learn that node 1 is gone: the next write through node 2 to the
// closed parent finishes the reshard at once, without waiting for the
// intent to be reshardIntentGrace old (the test's clock stands still).
// While node 1 is not known to be gone, the intent is left to it.
func TestReshardCutShortByAGoneNode(t *testing.T) {
	ctx := context.Background()
	m := &members{gone: map[string]bool{}}
	started := 0
	c := newCluster(t, 2, func(o *Options) {
		started++
		o.Membership = nodeView{m, "node" + strconv.Itoa(started)}
	})
	n1, n2 := c.nodes[0], c.nodes[1]
	if err := n1.CreateStream(ctx, CreateParams{Account: acct, Region: region, Name: "gone", ShardCount: 1}); err != nil {
		t.Fatal(err)
	}
	write := func(n *Streams) int {
		res, err := n.PutRecords(ctx, ref("gone"), spreadEntries(10))
		if err != nil {
			t.Fatal(err)
		}
		return res.FailedCount
	}
	n1.rs.hooks.afterClose = func() error { return errors.New("node killed") }
	st := c.stored(t, "gone")
	if err := n1.SplitShard(ctx, ref("gone"), "shardId-000000000000", midKey(&st.Shards[0])); err == nil {
		t.Fatal("SplitShard cut short succeeded")
	}
	if write(n2) == 0 {
		t.Fatal("the closed parent took writes")
	}
	// Whatever the background finish of that refusal did, with node 1
	// alive it left the intent.
	eventually(t, "the finish started by the refused write to end", func() bool {
		_, busy := n2.rs.recovering.Load(st.ID)
		return !busy
	})
	if got := c.stored(t, "gone"); len(got.Shards) != 1 {
		t.Fatalf("the reshard of a node still there was finished by another: %d shards stored", len(got.Shards))
	}

	m.setGone("node1")
	eventually(t, "writes through node 2 to go through", func() bool { return write(n2) == 0 })
	got := c.stored(t, "gone")
	if len(got.Shards) != 3 || got.Shards[0].IsOpen() || !got.Shards[1].IsOpen() || !got.Shards[2].IsOpen() {
		t.Fatalf("stored layout %+v, want shard 0 split into 1 and 2", got.Shards)
	}
	eventually(t, "the intent to be dropped", func() bool {
		_, _, err := c.cat.Get(ctx, reshardIntentKey(got.ID))
		return errors.Is(err, storage.ErrNotFound)
	})
}
