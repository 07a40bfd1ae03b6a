package streams

import (
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Enhanced fan-out consumers. A consumer belongs to one stream incarnation
// and is kept in that stream's metadata, so that it is stored, published
// and deleted with the stream under the same compare-and-set.
//
// A consumer is CREATING for CreateDelay after RegisterStreamConsumer, then
// ACTIVE; DeregisterStreamConsumer makes it DELETING for DeleteDelay, then
// it is gone. The stored state keeps the deadline, and every reader derives
// the current state from it (Consumer.state), so a transition needs no
// timer and survives a restart by construction; the next change to the
// stream's consumers stores the transitions that happened meanwhile.

// Consumer quotas.
const (
	// MaxConsumersPerStream is how many consumers one stream may have.
	MaxConsumersPerStream = 20
	// maxConsumersCreating is how many consumers of one stream may be
	// CREATING at once.
	maxConsumersCreating = 5
	// maxListConsumers is the default and largest page of
	// ListStreamConsumers.
	maxListConsumers = 100
)

// purposeConsumerToken seals ListStreamConsumers NextTokens.
const purposeConsumerToken byte = 'F'

// Consumer is a registered enhanced fan-out consumer as stored. Published
// consumers are never changed in place: a change replaces the stream's
// Consumers slice.
type Consumer struct {
	Name      string `json:"name"`
	CreatedAt int64  `json:"createdAt"` // ms since the epoch; the ARN carries its seconds
	Status    Status `json:"status"`    // CREATING, ACTIVE or DELETING as stored
	// Deadline ends a stored CREATING or DELETING state (ms).
	Deadline int64             `json:"deadline,omitempty"`
	Tags     map[string]string `json:"tags,omitempty"`
	Policy   string            `json:"policy,omitempty"`
}

// state returns the consumer's status at now (ms), and whether it is gone
// (DELETING and past its deadline).
func (c *Consumer) state(now int64) (Status, bool) {
	switch c.Status {
	case StatusCreating:
		if c.Deadline <= now {
			return StatusActive, false
		}
	case StatusDeleting:
		if c.Deadline <= now {
			return StatusDeleting, true
		}
	}
	return c.Status, false
}

// ConsumerInfo is a consumer as the API reports it.
type ConsumerInfo struct {
	Name, ARN, StreamARN string
	Status               Status
	CreatedAt            int64 // ms
}

func (st *Stream) consumerInfo(c *Consumer, now int64) ConsumerInfo {
	status, _ := c.state(now)
	return ConsumerInfo{Name: c.Name, ARN: ConsumerARN(st.ARN, c.Name, c.CreatedAt), StreamARN: st.ARN, Status: status, CreatedAt: c.CreatedAt}
}

// ConsumerARN returns the ARN of a consumer of the stream with ARN
// streamARN, created at createdAt (ms).
func ConsumerARN(streamARN, name string, createdAt int64) string {
	return streamARN + "/consumer/" + name + ":" + strconv.FormatInt(createdAt/1000, 10)
}

// parseConsumerARN splits
// arn:<partition>:kinesis:<region>:<account>:stream/<stream>/consumer/<name>:<secs>.
func parseConsumerARN(arn string) (stream StreamRef, name string, secs int64, ok bool) {
	streamARN, rest, found := strings.Cut(arn, "/consumer/")
	if !found {
		return StreamRef{}, "", 0, false
	}
	region, account, sname, ok := parseStreamARN(streamARN)
	if !ok {
		return StreamRef{}, "", 0, false
	}
	i := strings.LastIndexByte(rest, ':')
	if i <= 0 {
		return StreamRef{}, "", 0, false
	}
	n, err := strconv.ParseInt(rest[i+1:], 10, 64)
	if err != nil || n < 0 || !validName(rest[:i]) {
		return StreamRef{}, "", 0, false
	}
	return StreamRef{Account: account, Region: region, Name: sname, ARN: streamARN}, rest[:i], n, true
}

// IsConsumerARN reports whether arn names a consumer rather than a stream.
func IsConsumerARN(arn string) bool { return strings.Contains(arn, "/consumer/") }

func validName(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			return false
		}
	}
	return true
}

// ConsumerRef names a consumer as a request does: by ConsumerARN, or by
// StreamARN and ConsumerName, or all three when they agree.
type ConsumerRef struct {
	Account, Region string // the caller's, for error messages
	ARN             string
	StreamARN       string
	Name            string
}

// resolve returns the stream reference, consumer name and, when the
// reference is an ARN, the creation second it names (-1 otherwise).
func (ref ConsumerRef) resolve() (StreamRef, string, int64, error) {
	if ref.ARN != "" {
		sref, name, secs, ok := parseConsumerARN(ref.ARN)
		if !ok {
			return StreamRef{}, "", 0, errorf(KindInvalidArgument, "Invalid ConsumerARN %s.", ref.ARN)
		}
		if ref.StreamARN != "" && ref.StreamARN != sref.ARN {
			return StreamRef{}, "", 0, errorf(KindInvalidArgument, "ConsumerARN %s and StreamARN %s do not refer to the same stream.", ref.ARN, ref.StreamARN)
		}
		if ref.Name != "" && ref.Name != name {
			return StreamRef{}, "", 0, errorf(KindInvalidArgument, "ConsumerARN %s and ConsumerName %s do not refer to the same consumer.", ref.ARN, ref.Name)
		}
		return sref, name, secs, nil
	}
	if ref.StreamARN == "" || ref.Name == "" {
		return StreamRef{}, "", 0, errorf(KindInvalidArgument, "Either ConsumerARN or both ConsumerName and StreamARN must be provided.")
	}
	region, account, sname, ok := parseStreamARN(ref.StreamARN)
	if !ok {
		return StreamRef{}, "", 0, errorf(KindInvalidArgument, "Invalid StreamARN %s.", ref.StreamARN)
	}
	return StreamRef{Account: account, Region: region, Name: sname, ARN: ref.StreamARN}, ref.Name, -1, nil
}

func (ref ConsumerRef) describe(sref StreamRef, name string) string {
	if ref.ARN != "" {
		return ref.ARN
	}
	return name + " under stream " + sref.ARN
}

// findConsumer returns the index of the live (not gone) consumer name in
// st, or -1. secs >= 0 also requires the creation second an ARN names: a
// consumer registered again under the same name has another ARN.
func (st *Stream) findConsumer(name string, secs int64, now int64) int {
	for i := range st.Consumers {
		c := &st.Consumers[i]
		if c.Name != name {
			continue
		}
		if _, gone := c.state(now); gone {
			continue
		}
		if secs >= 0 && c.CreatedAt/1000 != secs {
			continue
		}
		return i
	}
	return -1
}

// lookupConsumer returns the current stream snapshot and its consumer ref
// names.
func (s *Streams) lookupConsumer(ref ConsumerRef) (*Stream, *Consumer, error) {
	sref, name, secs, err := ref.resolve()
	if err != nil {
		return nil, nil, err
	}
	st, err := s.lookupLive(sref)
	if err != nil {
		var de *Error
		if errors.As(err, &de) && de.Kind == KindNotFound {
			return nil, nil, consumerNotFound(ref, sref, name)
		}
		return nil, nil, err
	}
	i := st.findConsumer(name, secs, s.now().UnixMilli())
	if i < 0 {
		return nil, nil, consumerNotFound(ref, sref, name)
	}
	return st, &st.Consumers[i], nil
}

func consumerNotFound(ref ConsumerRef, sref StreamRef, name string) *Error {
	return errorf(KindNotFound, "Consumer %s not found.", ref.describe(sref, name))
}

// liveConsumers returns the consumers of st that are not gone at now, with
// the transitions that happened by now applied, as a new slice.
func liveConsumers(st *Stream, now int64) []Consumer {
	out := make([]Consumer, 0, len(st.Consumers)+1)
	for _, c := range st.Consumers {
		status, gone := c.state(now)
		if gone {
			continue
		}
		if status != c.Status {
			c.Status, c.Deadline = status, 0
		}
		out = append(out, c)
	}
	return out
}

// ConsumerCount is how many consumers st has at now (any state but gone).
func (st *Stream) ConsumerCount(now time.Time) int {
	n := 0
	for i := range st.Consumers {
		if _, gone := st.Consumers[i].state(now.UnixMilli()); !gone {
			n++
		}
	}
	return n
}

// RegisterConsumerParams is a RegisterStreamConsumer request.
type RegisterConsumerParams struct {
	StreamARN, Name string
	Tags            map[string]string
}

// RegisterConsumer registers a consumer with a stream. It is CREATING for
// CreateDelay, then ACTIVE.
func (s *Streams) RegisterConsumer(ctx context.Context, p RegisterConsumerParams) (ConsumerInfo, error) {
	region, account, name, ok := parseStreamARN(p.StreamARN)
	if !ok {
		return ConsumerInfo{}, errorf(KindInvalidArgument, "Invalid StreamARN %s.", p.StreamARN)
	}
	if err := validateTags(p.Tags, "register consumer "+p.Name, account); err != nil {
		return ConsumerInfo{}, err
	}
	if len(p.Tags) > maxTags {
		return ConsumerInfo{}, errorf(KindInvalidArgument, "Failed to register consumer %s under account %s because a given consumer cannot have more than %d tags associated with it.", p.Name, account, maxTags)
	}
	var info ConsumerInfo
	err := s.update(ctx, StreamRef{Account: account, Region: region, Name: name, ARN: p.StreamARN}, func(st *Stream) error {
		if st.Status != StatusActive && st.Status != StatusUpdating {
			return errorf(KindInUse, "Stream %s under account %s not ACTIVE, instead in state %s", st.Name, st.Account, st.Status)
		}
		now := s.now().UnixMilli()
		cs := liveConsumers(st, now)
		creating := 0
		for i := range cs {
			if cs[i].Name == p.Name {
				return errorf(KindInUse, "Consumer %s already exists under stream %s.", ConsumerARN(st.ARN, cs[i].Name, cs[i].CreatedAt), st.ARN)
			}
			if cs[i].Status == StatusCreating {
				creating++
			}
		}
		if len(cs) >= MaxConsumersPerStream {
			return errorf(KindLimitExceeded, "Stream %s under account %s already has %d registered consumers, the maximum per stream.", st.Name, st.Account, MaxConsumersPerStream)
		}
		if creating >= maxConsumersCreating {
			return errorf(KindLimitExceeded, "Stream %s under account %s already has %d consumers in CREATING state, the maximum at once.", st.Name, st.Account, maxConsumersCreating)
		}
		c := Consumer{Name: p.Name, CreatedAt: now, Status: StatusCreating, Deadline: s.now().Add(s.opts.CreateDelay).UnixMilli()}
		if s.opts.CreateDelay <= 0 {
			c.Status, c.Deadline = StatusActive, 0
		}
		if len(p.Tags) > 0 {
			c.Tags = make(map[string]string, len(p.Tags))
			for k, v := range p.Tags {
				c.Tags[k] = v
			}
		}
		st.Consumers = append(cs, c)
		info = st.consumerInfo(&c, now)
		// The call reports CREATING even when the consumer is ACTIVE at
		// once, as AWS's answer always does.
		info.Status = StatusCreating
		return nil
	})
	if err != nil {
		return ConsumerInfo{}, err
	}
	return info, nil
}

// DescribeConsumer returns a consumer.
func (s *Streams) DescribeConsumer(ref ConsumerRef) (ConsumerInfo, error) {
	st, c, err := s.lookupConsumer(ref)
	if err != nil {
		return ConsumerInfo{}, err
	}
	return st.consumerInfo(c, s.now().UnixMilli()), nil
}

// DeregisterConsumer starts removing a consumer: it is DELETING for
// DeleteDelay, then gone. Its subscriptions end.
func (s *Streams) DeregisterConsumer(ctx context.Context, ref ConsumerRef) error {
	sref, name, secs, err := ref.resolve()
	if err != nil {
		return err
	}
	err = s.update(ctx, sref, func(st *Stream) error {
		now := s.now().UnixMilli()
		cs := liveConsumers(st, now)
		i := slices.IndexFunc(cs, func(c Consumer) bool {
			return c.Name == name && (secs < 0 || c.CreatedAt/1000 == secs)
		})
		if i < 0 {
			return consumerNotFound(ref, sref, name)
		}
		if s.opts.DeleteDelay <= 0 {
			cs = slices.Delete(cs, i, i+1)
		} else if cs[i].Status != StatusDeleting {
			cs[i].Status = StatusDeleting
			cs[i].Deadline = s.now().Add(s.opts.DeleteDelay).UnixMilli()
		}
		st.Consumers = cs
		return nil
	})
	var de *Error
	if errors.As(err, &de) && de.Kind == KindNotFound && !strings.HasPrefix(de.Msg, "Consumer ") {
		return consumerNotFound(ref, sref, name)
	}
	if err == nil {
		s.subs.endConsumer(sref, name)
	}
	return err
}

// ConsumerPage is one page of ListStreamConsumers.
type ConsumerPage struct {
	Consumers []ConsumerInfo
	NextToken string // "" on the last page
}

// ListConsumersParams is a ListStreamConsumers request.
type ListConsumersParams struct {
	StreamARN  string
	MaxResults int // 0: the default (100)
	NextToken  string
	// StreamCreated, when not nil, must be the stream's creation time: it
	// tells apart streams that had the same name.
	StreamCreated *time.Time
}

// ListConsumers lists a stream's consumers by name. NextToken is sealed with
// the server key and valid for 300 seconds.
func (s *Streams) ListConsumers(p ListConsumersParams) (ConsumerPage, error) {
	region, account, name, ok := parseStreamARN(p.StreamARN)
	if !ok {
		return ConsumerPage{}, errorf(KindInvalidArgument, "Invalid StreamARN %s.", p.StreamARN)
	}
	st, err := s.lookupLive(StreamRef{Account: account, Region: region, Name: name, ARN: p.StreamARN})
	if err != nil {
		return ConsumerPage{}, err
	}
	if p.StreamCreated != nil && p.StreamCreated.Unix() != st.CreatedAt/1000 {
		return ConsumerPage{}, errorf(KindNotFound, "Stream %s under account %s created at %d not found.", st.Name, st.Account, p.StreamCreated.Unix())
	}
	limit := p.MaxResults
	if limit <= 0 || limit > maxListConsumers {
		limit = maxListConsumers
	}
	after := ""
	if p.NextToken != "" {
		payload, err := s.keys.openToken(purposeConsumerToken, p.NextToken, s.now())
		if err != nil {
			return ConsumerPage{}, err
		}
		if len(payload) < 8 || binary.BigEndian.Uint64(payload) != st.ID {
			return ConsumerPage{}, errorf(KindInvalidArgument, "Invalid NextToken.")
		}
		after = string(payload[8:])
	}
	now := s.now().UnixMilli()
	cs := liveConsumers(st, now)
	sort.Slice(cs, func(i, j int) bool { return cs[i].Name < cs[j].Name })
	var page ConsumerPage
	for i := range cs {
		if after != "" && cs[i].Name <= after {
			continue
		}
		if len(page.Consumers) == limit {
			last := page.Consumers[limit-1].Name
			payload := binary.BigEndian.AppendUint64(nil, st.ID)
			page.NextToken = s.keys.sealToken(purposeConsumerToken, s.now(), append(payload, last...))
			break
		}
		page.Consumers = append(page.Consumers, st.consumerInfo(&cs[i], now))
	}
	return page, nil
}

// updateConsumer applies change to a copy of a live consumer and stores
// the stream.
func (s *Streams) updateConsumer(ctx context.Context, arn string, change func(st *Stream, c *Consumer) error) error {
	ref := ConsumerRef{ARN: arn}
	sref, name, secs, err := ref.resolve()
	if err != nil {
		return err
	}
	err = s.update(ctx, sref, func(st *Stream) error {
		cs := liveConsumers(st, s.now().UnixMilli())
		i := slices.IndexFunc(cs, func(c Consumer) bool { return c.Name == name && c.CreatedAt/1000 == secs })
		if i < 0 {
			return consumerNotFound(ref, sref, name)
		}
		c := &cs[i]
		if c.Tags != nil {
			tags := make(map[string]string, len(c.Tags))
			for k, v := range c.Tags {
				tags[k] = v
			}
			c.Tags = tags
		}
		if err := change(st, c); err != nil {
			return err
		}
		st.Consumers = cs
		return nil
	})
	var de *Error
	if errors.As(err, &de) && de.Kind == KindNotFound && !strings.HasPrefix(de.Msg, "Consumer ") && !strings.HasPrefix(de.Msg, "No resource policy") {
		return consumerNotFound(ref, sref, name)
	}
	return err
}

// AddConsumerTags adds or overwrites tags of a consumer (TagResource).
func (s *Streams) AddConsumerTags(ctx context.Context, arn string, tags map[string]string) error {
	return s.updateConsumer(ctx, arn, func(st *Stream, c *Consumer) error {
		what := "add tags to consumer " + c.Name
		if err := validateTags(tags, what, st.Account); err != nil {
			return err
		}
		n := len(c.Tags)
		for k := range tags {
			if _, ok := c.Tags[k]; !ok {
				n++
			}
		}
		if n > maxTags {
			return errorf(KindInvalidArgument, "Failed to %s under account %s because a given consumer cannot have more than %d tags associated with it.", what, st.Account, maxTags)
		}
		if c.Tags == nil {
			c.Tags = make(map[string]string, len(tags))
		}
		for k, v := range tags {
			c.Tags[k] = v
		}
		return nil
	})
}

// RemoveConsumerTags removes tags from a consumer (UntagResource).
func (s *Streams) RemoveConsumerTags(ctx context.Context, arn string, keys []string) error {
	return s.updateConsumer(ctx, arn, func(st *Stream, c *Consumer) error {
		for _, k := range keys {
			delete(c.Tags, k)
		}
		return nil
	})
}

// ListConsumerTags returns every tag of a consumer, by key.
func (s *Streams) ListConsumerTags(arn string) ([]Tag, error) {
	_, c, err := s.lookupConsumer(ConsumerRef{ARN: arn})
	if err != nil {
		return nil, err
	}
	keys := make([]string, 0, len(c.Tags))
	for k := range c.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]Tag, len(keys))
	for i, k := range keys {
		out[i] = Tag{Key: k, Value: c.Tags[k]}
	}
	return out, nil
}

// PutConsumerPolicy attaches a resource policy to a consumer.
func (s *Streams) PutConsumerPolicy(ctx context.Context, arn, policy string) error {
	if err := validatePolicy(policy); err != nil {
		return err
	}
	return s.updateConsumer(ctx, arn, func(st *Stream, c *Consumer) error {
		c.Policy = policy
		return nil
	})
}

// GetConsumerPolicy returns a consumer's resource policy, "{}" when it has
// none.
func (s *Streams) GetConsumerPolicy(arn string) (string, error) {
	_, c, err := s.lookupConsumer(ConsumerRef{ARN: arn})
	if err != nil {
		return "", err
	}
	if c.Policy == "" {
		return "{}", nil
	}
	return c.Policy, nil
}

// DeleteConsumerPolicy removes a consumer's resource policy.
func (s *Streams) DeleteConsumerPolicy(ctx context.Context, arn string) error {
	return s.updateConsumer(ctx, arn, func(st *Stream, c *Consumer) error {
		if c.Policy == "" {
			return errorf(KindNotFound, "No resource policy found for resource %s.", arn)
		}
		c.Policy = ""
		return nil
	})
}

// checkConsumersForDelete refuses to delete a stream that has consumers
// unless the request enforces their deletion, in AWS's words.
func checkConsumersForDelete(st *Stream, enforce bool, now time.Time) error {
	if enforce || st.ConsumerCount(now) == 0 {
		return nil
	}
	return errorf(KindInUse, "DeleteStream can't delete %s:%s because there are consumers associated with this data stream. To delete %s anyway, set the EnforceConsumerDeletion parameter to true to force the deletion of all the consumers that are associated with it.",
		st.Account, st.Name, st.Name)
}
