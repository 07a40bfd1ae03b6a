package jetstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/millrace/millrace/internal/storage"
)

func (e *Engine) bucket() string { return e.opts.Prefix + "-catalog" }

// openCatalog creates the catalog's bucket (or binds to it). Its stream is
// the one a key-value bucket of history 1 has, except that direct gets
// are off: every Get is then answered by the stream leader, after every
// acknowledged Put.
func (e *Engine) openCatalog(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cfg := jetstream.StreamConfig{
		Name:              "KV_" + e.bucket(),
		Subjects:          []string{"$KV." + e.bucket() + ".>"},
		Storage:           jetstream.FileStorage,
		Replicas:          e.opts.Replicas,
		MaxMsgsPerSubject: 1,
		MaxMsgs:           -1,
		MaxBytes:          -1,
		MaxMsgSize:        -1,
		MaxConsumers:      -1,
		AllowRollup:       true,
		DenyDelete:        true,
		Duplicates:        2 * time.Minute,
		Discard:           jetstream.DiscardNew,
	}
	var lastErr error
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, 250*time.Millisecond); err != nil {
				return fmt.Errorf("jetstream: catalog bucket: %w", errors.Join(err, lastErr))
			}
		}
		actx, acancel := context.WithTimeout(ctx, attemptTimeout)
		_, err := e.js.CreateOrUpdateStream(actx, cfg)
		if err == nil {
			e.kv, err = e.js.KeyValue(actx, e.bucket())
		}
		if err == nil {
			err = e.catalogCurrent(actx)
		}
		acancel()
		if err == nil {
			return nil
		}
		// Until a cluster has met a quorum, JetStream is not available.
		lastErr = err
	}
}

// catalogCurrent fails while the embedded server's replica of the catalog
// is behind its leader (a node just restarted catches up first): List
// reads through a consumer that JetStream may place on this server's
// replica, which must then hold every acknowledged write.
func (e *Engine) catalogCurrent(ctx context.Context) error {
	if e.srv == nil || e.opts.Replicas == 1 {
		return nil
	}
	s, err := e.js.Stream(ctx, "KV_"+e.bucket())
	if err != nil {
		return err
	}
	ci := s.CachedInfo().Cluster
	if ci == nil || ci.Leader == "" {
		return errors.New("jetstream: the catalog has no leader yet")
	}
	if ci.Leader == e.srv.Name() {
		return nil
	}
	for _, p := range ci.Replicas {
		if p.Name == e.srv.Name() {
			if !p.Current || p.Lag > 0 {
				return fmt.Errorf("jetstream: this node's copy of the catalog is %d behind", p.Lag)
			}
			return nil
		}
	}
	return nil
}

// kvKey turns a catalog key into a bucket key: one subject token per
// "/"-separated part, "_" and the part with every byte outside
// [A-Za-z0-9_-] written as =XX.
func kvKey(key string) string {
	var b strings.Builder
	b.Grow(len(key) + 8)
	for i, part := range strings.Split(key, "/") {
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteByte('_')
		escapePart(&b, part)
	}
	return b.String()
}

func escapePart(b *strings.Builder, part string) {
	const hex = "0123456789ABCDEF"
	for i := 0; i < len(part); i++ {
		c := part[i]
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('=')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
}

// catalogKey undoes kvKey.
func catalogKey(k string) (string, error) {
	var b strings.Builder
	for i, part := range strings.Split(k, ".") {
		if len(part) == 0 || part[0] != '_' {
			return "", fmt.Errorf("jetstream: catalog key %q is not one of the engine's", k)
		}
		if i > 0 {
			b.WriteByte('/')
		}
		for j := 1; j < len(part); j++ {
			c := part[j]
			if c != '=' {
				b.WriteByte(c)
				continue
			}
			if j+2 >= len(part) {
				return "", fmt.Errorf("jetstream: catalog key %q: cut escape", k)
			}
			hi, lo := unhex(part[j+1]), unhex(part[j+2])
			if hi < 0 || lo < 0 {
				return "", fmt.Errorf("jetstream: catalog key %q: bad escape", k)
			}
			b.WriteByte(byte(hi<<4 | lo))
			j += 2
		}
	}
	return b.String(), nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// listFilter is the subject filter for the keys that may start with
// prefix: the whole parts of prefix, then anything.
func listFilter(prefix string) string {
	i := strings.LastIndexByte(prefix, '/')
	if i < 0 {
		return ">"
	}
	return kvKey(prefix[:i]) + ".>"
}

func (e *Engine) catalogErr(err error) error {
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
		return storage.ErrNotFound
	case errors.Is(err, jetstream.ErrKeyExists):
		return storage.ErrConflict
	case errors.Is(err, nats.ErrConnectionClosed):
		return e.connErr(err)
	}
	var apiErr *jetstream.APIError
	if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeWrongLastSeq {
		return storage.ErrConflict
	}
	return err
}

// retry runs op with a bounded attempt until it succeeds, fails for good
// or ctx is done: a JetStream request can time out or find no responder
// while a replica group elects a leader (a node's death, a cluster's
// start).
func (e *Engine) retry(ctx context.Context, op func(ctx context.Context) error) error {
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return err
			}
		}
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err := op(actx)
		cancel()
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return errors.Join(ctx.Err(), err)
		}
	}
}

func transient(err error) bool {
	var apiErr *jetstream.APIError
	var natsAPIErr *nats.APIError // a watch's consumer creation (nats.go's older API)
	switch {
	case errors.As(err, &natsAPIErr):
		return natsAPIErr.Code == 503 || natsAPIErr.Code == 408
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse):
		return true
	case errors.As(err, &apiErr):
		// 10164: another write of the same key is being replicated; it
		// may still fail, so this one's fate is not known yet.
		return apiErr.Code == 503 || apiErr.Code == 408 || apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
	}
	return false
}

// kvEntry is the newest message of a key: a value, or a delete marker.
type kvEntry struct {
	value   []byte
	rev     uint64
	deleted bool
}

// last reads the newest message of a key from the bucket's stream leader
// (a STREAM.MSG.GET, not a direct get that any replica could answer
// behind the leader). found is false when the key never had a message.
func (e *Engine) last(ctx context.Context, key string) (en kvEntry, found bool, err error) {
	req, _ := json.Marshal(map[string]string{"last_by_subj": e.kvSubject(key)})
	err = e.retry(ctx, func(ctx context.Context) error {
		m, err := e.nc.RequestWithContext(ctx, "$JS.API.STREAM.MSG.GET.KV_"+e.bucket(), req)
		if err != nil {
			return e.connErr(err)
		}
		var resp struct {
			Message *struct {
				Seq  uint64 `json:"seq"`
				Hdrs []byte `json:"hdrs"`
				Data []byte `json:"data"`
			} `json:"message"`
			Error *jetstream.APIError `json:"error"`
		}
		if err := json.Unmarshal(m.Data, &resp); err != nil {
			return fmt.Errorf("jetstream: catalog get: %w", err)
		}
		switch {
		case resp.Error != nil && resp.Error.ErrorCode == jetstream.JSErrCodeMessageNotFound:
			found = false
			return nil
		case resp.Error != nil:
			return resp.Error
		case resp.Message == nil:
			return errors.New("jetstream: catalog get: an empty answer")
		}
		hdrs := string(resp.Message.Hdrs)
		en = kvEntry{value: resp.Message.Data, rev: resp.Message.Seq,
			deleted: strings.Contains(hdrs, "KV-Operation: DEL") || strings.Contains(hdrs, "KV-Operation: PURGE")}
		found = true
		return nil
	})
	return en, found, err
}

func (e *Engine) kvSubject(key string) string { return "$KV." + e.bucket() + "." + kvKey(key) }

// write publishes a key's new value (or delete marker) if the key's
// newest message is at revision expect (0: it has none). One message id
// for every try, so a try that was stored but not acknowledged is found
// again, not stored twice.
func (e *Engine) write(ctx context.Context, key string, value []byte, expect uint64, del bool) (uint64, error) {
	id := nuid.Next()
	var rev uint64
	err := e.retry(ctx, func(ctx context.Context) error {
		m := nats.NewMsg(e.kvSubject(key))
		m.Header.Set(jetstream.MsgIDHeader, id)
		m.Header.Set(jetstream.ExpectedLastSubjSeqHeader, strconv.FormatUint(expect, 10))
		if del {
			m.Header.Set("KV-Operation", "DEL")
		}
		m.Data = value
		ack, err := e.js.PublishMsg(ctx, m, jetstream.WithRetryAttempts(0))
		if err != nil {
			return err
		}
		rev = ack.Sequence
		return nil
	})
	if err != nil {
		return 0, e.catalogErr(err)
	}
	return rev, nil
}

// Get implements storage.Catalog.
func (e *Engine) Get(ctx context.Context, key string) ([]byte, uint64, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return nil, 0, err
	}
	defer done()
	en, found, err := e.last(ctx, key)
	switch {
	case err != nil:
		return nil, 0, e.catalogErr(err)
	case !found || en.deleted:
		return nil, 0, storage.ErrNotFound
	}
	return en.value, en.rev, nil
}

// Put implements storage.Catalog.
func (e *Engine) Put(ctx context.Context, key string, value []byte, expectRev uint64) (uint64, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer done()
	expect := expectRev
	if expectRev == 0 {
		// A deleted key has a delete marker: creating it again replaces
		// the marker.
		en, found, err := e.last(ctx, key)
		if err != nil {
			return 0, e.catalogErr(err)
		}
		if found && !en.deleted {
			return 0, storage.ErrConflict
		}
		if found {
			expect = en.rev
		}
	}
	return e.write(ctx, key, value, expect, false)
}

// Delete implements storage.Catalog.
func (e *Engine) Delete(ctx context.Context, key string, expectRev uint64) error {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return err
	}
	defer done()
	en, found, err := e.last(ctx, key)
	switch {
	case err != nil:
		return e.catalogErr(err)
	case !found || en.deleted:
		return storage.ErrNotFound
	case en.rev != expectRev:
		return storage.ErrConflict
	}
	_, err = e.write(ctx, key, nil, expectRev, true)
	if errors.Is(err, storage.ErrConflict) {
		// Changed meanwhile: deleted (not found) or written (conflict).
		if en, found, gerr := e.last(ctx, key); gerr == nil && (!found || en.deleted) {
			return storage.ErrNotFound
		}
	}
	return err
}

// List implements storage.Catalog. It reads the bucket through a watch
// (an ordered consumer, a replica of one). JetStream places it on any
// replica of the catalog it does not know to be offline, and a server
// killed without a goodbye is known to be offline only minutes later: a
// watch placed on it (or created while the meta group elects a leader)
// never answers. So each try gives up once it has gone listStall without
// news (its consumer's creation, an entry), and List tries again, on a
// new consumer that JetStream places on a replica that answers, until ctx
// is done.
func (e *Engine) List(ctx context.Context, prefix string) ([]storage.KV, error) {
	ctx, done, err := e.begin(ctx)
	if err != nil {
		return nil, err
	}
	defer done()
	for try := 0; ; try++ {
		if try > 0 {
			if err := sleep(ctx, backoff(try)); err != nil {
				return nil, err
			}
		}
		kvs, err := e.listTry(ctx, prefix)
		if err == nil {
			return kvs, nil
		}
		if ctx.Err() != nil {
			return nil, errors.Join(ctx.Err(), err)
		}
		if !transient(err) && !errors.Is(err, errWatchEnded) {
			return nil, e.catalogErr(err)
		}
		e.logger.Debug("catalog list: trying again", "prefix", prefix, "try", try+1, "err", err)
	}
}

// listStall is how long a try of List waits for its watch's first entry,
// or for the next one, before it gives up on the watch.
const listStall = 3 * time.Second

var errWatchEnded = errors.New("jetstream: catalog list: the watch ended early")

// listTry reads the keys once. The watch's creation does not always heed
// its context: it runs on its own goroutine, which removes the watch
// when it is abandoned.
func (e *Engine) listTry(ctx context.Context, prefix string) ([]storage.KV, error) {
	type result struct {
		kvs []storage.KV
		err error
	}
	ch := make(chan result, 1)
	progress := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		kvs, err := e.list(wctx, prefix, progress)
		ch <- result{kvs, err}
	}()
	stall := time.NewTimer(listStall)
	defer stall.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case r := <-ch:
			return r.kvs, r.err
		case <-progress:
			stall.Reset(listStall)
		case <-stall.C:
			return nil, fmt.Errorf("jetstream: catalog list %q: no answer from the watch within %v: %w", prefix, listStall, context.DeadlineExceeded)
		}
	}
}

func (e *Engine) list(ctx context.Context, prefix string, progress chan<- struct{}) ([]storage.KV, error) {
	tick := func() {
		select {
		case progress <- struct{}{}:
		default:
		}
	}
	w, err := e.kv.WatchFiltered(ctx, []string{listFilter(prefix)}, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, e.connErr(err)
	}
	defer func() {
		_ = w.Stop()
		// A watch given up on may be blocked handing over an entry; its
		// updates end once the stop has reached it.
		go func() {
			for range w.Updates() {
			}
		}()
	}()
	var out []storage.KV
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case en, ok := <-w.Updates():
			if !ok {
				return nil, fmt.Errorf("%w (%q)", errWatchEnded, prefix)
			}
			if en == nil { // every current entry has been sent
				sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
				return out, nil
			}
			tick()
			key, err := catalogKey(en.Key())
			if err != nil {
				return nil, err
			}
			if strings.HasPrefix(key, prefix) {
				out = append(out, storage.KV{Key: key, Value: en.Value(), Rev: en.Revision()})
			}
		}
	}
}
