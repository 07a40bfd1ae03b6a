package consumer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the KCL 2.x lease table.
const (
	attrLeaseKey             = "leaseKey"
	attrLeaseOwner           = "leaseOwner"
	attrLeaseCounter         = "leaseCounter"
	attrOwnerSwitches        = "ownerSwitchesSinceCheckpoint"
	attrCheckpoint           = "checkpoint"
	attrCheckpointSubSeq     = "checkpointSubSequenceNumber"
	attrPendingCheckpoint    = "pendingCheckpoint"
	attrPendingSubSeq        = "pendingCheckpointSubSequenceNumber"
	attrPendingState         = "pendingCheckpointState"
	attrParentShardID        = "parentShardId"
	attrChildShardIDs        = "childShardIds"
	attrStartingHashKey      = "startingHashKey"
	attrEndingHashKey        = "endingHashKey"
	attrStreamName           = "streamName"
	attrShardID              = "shardId"
	attrCheckpointOwner      = "checkpointOwner"
	attrThroughputKBps       = "throughputKBps"
	conditionalCheckFailed   = "ConditionalCheckFailedException"
	resourceInUse            = "ResourceInUseException"
	resourceNotFound         = "ResourceNotFoundException"
	tableCreationPollPeriod  = 200 * time.Millisecond
	tableCreationMaxDuration = 5 * time.Minute
)

// Lease is one item of the lease table, in the KCL 2.x schema.
type Lease struct {
	// Key is the shard id, or in a multi-stream table
	// "account:stream:creationEpoch:shardId".
	Key string
	// Owner is the worker holding the lease; "" when unassigned.
	Owner string
	// Counter is incremented by every renewal, take and update.
	Counter int64
	// Checkpoint is the position processed so far.
	Checkpoint ExtendedSequenceNumber
	// PendingCheckpoint is a prepared checkpoint, with its state.
	PendingCheckpoint      *ExtendedSequenceNumber
	PendingCheckpointState []byte
	// OwnerSwitchesSinceCheckpoint counts the takes since the last
	// checkpoint.
	OwnerSwitchesSinceCheckpoint int64
	// ParentShardIDs are the shard's parents (attribute parentShardId),
	// ChildShardIDs its children once it ended.
	ParentShardIDs []string
	ChildShardIDs  []string
	// StartingHashKey and EndingHashKey are the shard's hash range.
	StartingHashKey, EndingHashKey string
	// StreamName and ShardID are set in multi-stream tables; StreamName is
	// the stream identifier "account:stream:creationEpoch".
	StreamName, ShardID string
	// CheckpointOwner is set by KCL 3.x during a graceful handoff.
	CheckpointOwner string
}

// Finished reports whether the lease's shard was processed to its end.
func (l *Lease) Finished() bool { return l.Checkpoint.SequenceNumber == ShardEnd }

func leaseToItem(l *Lease) map[string]ddb.AttributeValue {
	item := map[string]ddb.AttributeValue{
		attrLeaseKey:         sAttr(l.Key),
		attrLeaseCounter:     nAttr(l.Counter),
		attrOwnerSwitches:    nAttr(l.OwnerSwitchesSinceCheckpoint),
		attrCheckpoint:       sAttr(l.Checkpoint.SequenceNumber),
		attrCheckpointSubSeq: nAttr(l.Checkpoint.SubSequenceNumber),
	}
	if l.Owner != "" {
		item[attrLeaseOwner] = sAttr(l.Owner)
	}
	if len(l.ParentShardIDs) > 0 {
		item[attrParentShardID] = &ddb.AttributeValueMemberSS{Value: slices.Clone(l.ParentShardIDs)}
	}
	if len(l.ChildShardIDs) > 0 {
		item[attrChildShardIDs] = &ddb.AttributeValueMemberSS{Value: slices.Clone(l.ChildShardIDs)}
	}
	if l.PendingCheckpoint != nil {
		item[attrPendingCheckpoint] = sAttr(l.PendingCheckpoint.SequenceNumber)
		item[attrPendingSubSeq] = nAttr(l.PendingCheckpoint.SubSequenceNumber)
	}
	if len(l.PendingCheckpointState) > 0 {
		item[attrPendingState] = &ddb.AttributeValueMemberB{Value: l.PendingCheckpointState}
	}
	if l.StartingHashKey != "" && l.EndingHashKey != "" {
		item[attrStartingHashKey] = sAttr(l.StartingHashKey)
		item[attrEndingHashKey] = sAttr(l.EndingHashKey)
	}
	if l.StreamName != "" {
		item[attrStreamName] = sAttr(l.StreamName)
		item[attrShardID] = sAttr(l.ShardID)
	}
	return item
}

func leaseFromItem(item map[string]ddb.AttributeValue) (*Lease, error) {
	l := &Lease{}
	var err error
	str := func(name string) string {
		if v, ok := item[name].(*ddb.AttributeValueMemberS); ok {
			return v.Value
		}
		return ""
	}
	num := func(name string) int64 {
		v, ok := item[name].(*ddb.AttributeValueMemberN)
		if !ok {
			return 0
		}
		n, e := strconv.ParseInt(v.Value, 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("consumer: lease attribute %s: %q is not an integer", name, v.Value)
		}
		return n
	}
	set := func(name string) []string {
		if v, ok := item[name].(*ddb.AttributeValueMemberSS); ok {
			return v.Value
		}
		return nil
	}
	l.Key = str(attrLeaseKey)
	if l.Key == "" {
		return nil, errors.New("consumer: lease item without a leaseKey")
	}
	l.Owner = str(attrLeaseOwner)
	l.Counter = num(attrLeaseCounter)
	l.OwnerSwitchesSinceCheckpoint = num(attrOwnerSwitches)
	l.Checkpoint = ExtendedSequenceNumber{SequenceNumber: str(attrCheckpoint), SubSequenceNumber: num(attrCheckpointSubSeq)}
	if p := str(attrPendingCheckpoint); p != "" {
		l.PendingCheckpoint = &ExtendedSequenceNumber{SequenceNumber: p, SubSequenceNumber: num(attrPendingSubSeq)}
	}
	if v, ok := item[attrPendingState].(*ddb.AttributeValueMemberB); ok {
		l.PendingCheckpointState = v.Value
	}
	l.ParentShardIDs = set(attrParentShardID)
	l.ChildShardIDs = set(attrChildShardIDs)
	l.StartingHashKey = str(attrStartingHashKey)
	l.EndingHashKey = str(attrEndingHashKey)
	l.StreamName = str(attrStreamName)
	l.ShardID = str(attrShardID)
	l.CheckpointOwner = str(attrCheckpointOwner)
	return l, err
}

func sAttr(s string) ddb.AttributeValue { return &ddb.AttributeValueMemberS{Value: s} }
func nAttr(n int64) ddb.AttributeValue {
	return &ddb.AttributeValueMemberN{Value: strconv.FormatInt(n, 10)}
}

func put(v ddb.AttributeValue) ddb.AttributeValueUpdate {
	return ddb.AttributeValueUpdate{Action: ddb.AttributeActionPut, Value: v}
}

var deleteAttr = ddb.AttributeValueUpdate{Action: ddb.AttributeActionDelete}

func expectN(n int64) ddb.ExpectedAttributeValue {
	return ddb.ExpectedAttributeValue{Value: nAttr(n)}
}

// ErrLeaseLost is returned when a lease is no longer held by the worker:
// its conditional write found another counter or owner.
var ErrLeaseLost = errors.New("consumer: lease lost")

// leaseTable performs the KCL's conditional writes on the lease table,
// with the legacy Expected/AttributeUpdates parameters as the KCL does.
type leaseTable struct {
	client DynamoDBClient
	name   string
}

// ensure creates the table (key leaseKey, on-demand billing) unless it
// exists, and waits until it is active.
func (t *leaseTable) ensure(ctx context.Context) error {
	_, err := t.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.name)})
	if apiCode(err) == resourceNotFound {
		_, err = t.client.CreateTable(ctx, &dynamodb.CreateTableInput{
			TableName:            aws.String(t.name),
			AttributeDefinitions: []ddb.AttributeDefinition{{AttributeName: aws.String(attrLeaseKey), AttributeType: ddb.ScalarAttributeTypeS}},
			KeySchema:            []ddb.KeySchemaElement{{AttributeName: aws.String(attrLeaseKey), KeyType: ddb.KeyTypeHash}},
			BillingMode:          ddb.BillingModePayPerRequest,
		}, plainDynamoDB)
		if err != nil && apiCode(err) != resourceInUse {
			return fmt.Errorf("consumer: creating lease table %s: %w", t.name, err)
		}
	} else if err != nil {
		return fmt.Errorf("consumer: describing lease table %s: %w", t.name, err)
	}
	deadline := time.Now().Add(tableCreationMaxDuration)
	for {
		out, err := t.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(t.name)})
		if err != nil && apiCode(err) != resourceNotFound {
			return fmt.Errorf("consumer: describing lease table %s: %w", t.name, err)
		}
		if err == nil && out.Table != nil && out.Table.TableStatus == ddb.TableStatusActive {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("consumer: lease table %s not active after %v", t.name, tableCreationMaxDuration)
		}
		if err := sleep(ctx, tableCreationPollPeriod); err != nil {
			return err
		}
	}
}

// list scans the whole table with strongly consistent reads.
func (t *leaseTable) list(ctx context.Context) ([]*Lease, error) {
	var leases []*Lease
	var start map[string]ddb.AttributeValue
	for {
		out, err := t.client.Scan(ctx, &dynamodb.ScanInput{
			TableName: aws.String(t.name), ConsistentRead: aws.Bool(true), ExclusiveStartKey: start,
		})
		if err != nil {
			return nil, fmt.Errorf("consumer: scanning lease table %s: %w", t.name, err)
		}
		for _, item := range out.Items {
			l, err := leaseFromItem(item)
			if err != nil {
				return nil, err
			}
			leases = append(leases, l)
		}
		if len(out.LastEvaluatedKey) == 0 {
			return leases, nil
		}
		start = out.LastEvaluatedKey
	}
}

// get reads one lease; nil when it does not exist.
func (t *leaseTable) get(ctx context.Context, key string) (*Lease, error) {
	out, err := t.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(t.name), ConsistentRead: aws.Bool(true),
		Key: map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
	})
	if err != nil {
		return nil, fmt.Errorf("consumer: reading lease %s: %w", key, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	return leaseFromItem(out.Item)
}

// create puts l if no lease has its key; it reports whether it did.
func (t *leaseTable) create(ctx context.Context, l *Lease) (bool, error) {
	_, err := t.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(t.name),
		Item:      leaseToItem(l),
		Expected:  map[string]ddb.ExpectedAttributeValue{attrLeaseKey: {Exists: aws.Bool(false)}},
	}, plainDynamoDB)
	if apiCode(err) == conditionalCheckFailed {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("consumer: creating lease %s: %w", l.Key, err)
	}
	return true, nil
}

// renew increments the counter of a lease whose counter is still seen.
func (t *leaseTable) renew(ctx context.Context, key string, seen int64) error {
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.name),
		Key:       map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
		Expected: map[string]ddb.ExpectedAttributeValue{
			attrLeaseCounter:    expectN(seen),
			attrCheckpointOwner: {Exists: aws.Bool(false)},
		},
		AttributeUpdates: map[string]ddb.AttributeValueUpdate{attrLeaseCounter: put(nAttr(seen + 1))},
	}, plainDynamoDB)
	return t.conditional(err, "renewing", key)
}

// take makes owner the owner of a lease whose counter is still seen.
func (t *leaseTable) take(ctx context.Context, l *Lease, owner string) error {
	updates := map[string]ddb.AttributeValueUpdate{
		attrLeaseOwner:      put(sAttr(owner)),
		attrLeaseCounter:    put(nAttr(l.Counter + 1)),
		attrCheckpointOwner: deleteAttr,
	}
	if l.Owner != "" && l.Owner != owner {
		updates[attrOwnerSwitches] = ddb.AttributeValueUpdate{Action: ddb.AttributeActionAdd, Value: nAttr(1)}
	}
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(t.name),
		Key:              map[string]ddb.AttributeValue{attrLeaseKey: sAttr(l.Key)},
		Expected:         map[string]ddb.ExpectedAttributeValue{attrLeaseCounter: expectN(l.Counter)},
		AttributeUpdates: updates,
	}, plainDynamoDB)
	return t.conditional(err, "taking", l.Key)
}

// evict removes owner from a lease it holds.
func (t *leaseTable) evict(ctx context.Context, key, owner string, seen int64) error {
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(t.name),
		Key:       map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
		Expected:  map[string]ddb.ExpectedAttributeValue{attrLeaseOwner: {Value: sAttr(owner)}},
		AttributeUpdates: map[string]ddb.AttributeValueUpdate{
			attrLeaseOwner:   deleteAttr,
			attrLeaseCounter: put(nAttr(seen + 1)),
		},
	}, plainDynamoDB)
	return t.conditional(err, "releasing", key)
}

// checkpoint records cp (and a pending checkpoint, or none) on a lease
// whose counter is still seen; children are recorded with SHARD_END.
func (t *leaseTable) checkpoint(ctx context.Context, key string, seen int64, cp ExtendedSequenceNumber, pending *ExtendedSequenceNumber, state []byte, children []string) error {
	updates := map[string]ddb.AttributeValueUpdate{
		attrLeaseCounter:     put(nAttr(seen + 1)),
		attrCheckpoint:       put(sAttr(cp.SequenceNumber)),
		attrCheckpointSubSeq: put(nAttr(cp.SubSequenceNumber)),
		attrOwnerSwitches:    put(nAttr(0)),
	}
	if pending != nil {
		updates[attrPendingCheckpoint] = put(sAttr(pending.SequenceNumber))
		updates[attrPendingSubSeq] = put(nAttr(pending.SubSequenceNumber))
	} else {
		updates[attrPendingCheckpoint] = deleteAttr
		updates[attrPendingSubSeq] = deleteAttr
	}
	if len(state) > 0 {
		updates[attrPendingState] = put(&ddb.AttributeValueMemberB{Value: state})
	} else {
		updates[attrPendingState] = deleteAttr
	}
	if len(children) > 0 {
		updates[attrChildShardIDs] = put(&ddb.AttributeValueMemberSS{Value: children})
	}
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(t.name),
		Key:              map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
		Expected:         map[string]ddb.ExpectedAttributeValue{attrLeaseCounter: expectN(seen)},
		AttributeUpdates: updates,
	}, plainDynamoDB)
	return t.conditional(err, "checkpointing", key)
}

// pending records a prepared checkpoint, leaving the checkpoint as it is.
func (t *leaseTable) pending(ctx context.Context, key string, seen int64, pending ExtendedSequenceNumber, state []byte) error {
	updates := map[string]ddb.AttributeValueUpdate{
		attrLeaseCounter:      put(nAttr(seen + 1)),
		attrPendingCheckpoint: put(sAttr(pending.SequenceNumber)),
		attrPendingSubSeq:     put(nAttr(pending.SubSequenceNumber)),
		attrPendingState:      deleteAttr,
	}
	if len(state) > 0 {
		updates[attrPendingState] = put(&ddb.AttributeValueMemberB{Value: state})
	}
	_, err := t.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:        aws.String(t.name),
		Key:              map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
		Expected:         map[string]ddb.ExpectedAttributeValue{attrLeaseCounter: expectN(seen)},
		AttributeUpdates: updates,
	}, plainDynamoDB)
	return t.conditional(err, "preparing a checkpoint of", key)
}

// remove deletes a finished lease.
func (t *leaseTable) remove(ctx context.Context, key string) error {
	_, err := t.client.DeleteItem(ctx, &dynamodb.DeleteItemInput{
		TableName: aws.String(t.name),
		Key:       map[string]ddb.AttributeValue{attrLeaseKey: sAttr(key)},
		Expected:  map[string]ddb.ExpectedAttributeValue{attrCheckpoint: {Value: sAttr(ShardEnd)}},
	}, plainDynamoDB)
	if apiCode(err) == conditionalCheckFailed {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consumer: deleting lease %s: %w", key, err)
	}
	return nil
}

func (t *leaseTable) conditional(err error, verb, key string) error {
	if err == nil {
		return nil
	}
	if apiCode(err) == conditionalCheckFailed {
		return fmt.Errorf("%w: %s lease %s: the lease changed", ErrLeaseLost, verb, key)
	}
	return fmt.Errorf("consumer: %s lease %s: %w", verb, key, err)
}
