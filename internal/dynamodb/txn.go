package dynamodb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
	"github.com/millrace/millrace/internal/storage"
)

// intent is the record of a transaction's writes, stored before the first
// write and deleted after the last: the catalog has no multi-key
// transaction, so a crash in between is finished on the next start.
type intent struct {
	Writes []intentWrite `json:"writes"`
}

type intentWrite struct {
	Key   string          `json:"key"`
	Value json.RawMessage `json:"value,omitempty"` // absent: delete
}

func (s *Service) transactWriteItems(ctx context.Context, in *dynamodbapi.TransactWriteItemsInput) (*dynamodbapi.TransactWriteItemsOutput, error) {
	account, region := caller(ctx)
	tables := map[string]*tableMeta{}
	load := func(name *string) (*tableMeta, error) {
		n := tableName(awsproto.Value(name))
		if t, ok := tables[n]; ok {
			return t, nil
		}
		t, err := s.loadTable(ctx, account, region, n)
		if err != nil {
			return nil, err
		}
		if t == nil {
			return nil, tableNotFound()
		}
		tables[n] = t
		return t, nil
	}
	ops := make([]*writeOp, 0, len(in.TransactItems))
	seen := map[string]bool{}
	for _, ti := range in.TransactItems {
		n := 0
		for _, set := range []bool{ti.ConditionCheck != nil, ti.Put != nil, ti.Delete != nil, ti.Update != nil} {
			if set {
				n++
			}
		}
		if n != 1 {
			return nil, validationError("TransactItems can only contain one of Check, Put, Update or Delete")
		}
		var w *writeOp
		var err error
		switch {
		case ti.ConditionCheck != nil:
			c := ti.ConditionCheck
			var t *tableMeta
			if t, err = load(c.TableName); err != nil {
				return nil, err
			}
			if w, err = prepareKeyed(t, c.Key, c.ConditionExpression, nil, nil, c.ExpressionAttributeNames, c.ExpressionAttributeValues); err != nil {
				return nil, err
			}
			w.check = true
			w.returnOnFailure = awsproto.Value(c.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
		case ti.Put != nil:
			p := ti.Put
			var t *tableMeta
			if t, err = load(p.TableName); err != nil {
				return nil, err
			}
			if w, err = preparePut(t, p.Item, p.ConditionExpression, nil, nil, p.ExpressionAttributeNames, p.ExpressionAttributeValues); err != nil {
				return nil, err
			}
			w.returnOnFailure = awsproto.Value(p.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
		case ti.Delete != nil:
			d := ti.Delete
			var t *tableMeta
			if t, err = load(d.TableName); err != nil {
				return nil, err
			}
			if w, err = prepareKeyed(t, d.Key, d.ConditionExpression, nil, nil, d.ExpressionAttributeNames, d.ExpressionAttributeValues); err != nil {
				return nil, err
			}
			w.del = true
			w.returnOnFailure = awsproto.Value(d.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
		case ti.Update != nil:
			u := ti.Update
			var t *tableMeta
			if t, err = load(u.TableName); err != nil {
				return nil, err
			}
			if u.UpdateExpression == nil {
				return nil, validationError("1 validation error detected: Value null at 'transactItems.member.update.updateExpression' failed to satisfy constraint: Member must not be null")
			}
			if w, _, err = prepareUpdate(t, u.Key, u.UpdateExpression, nil, u.ConditionExpression, nil, nil, u.ExpressionAttributeNames, u.ExpressionAttributeValues); err != nil {
				return nil, err
			}
			w.returnOnFailure = awsproto.Value(u.ReturnValuesOnConditionCheckFailure) == "ALL_OLD"
		}
		if w.check && w.cond == nil {
			return nil, validationError("The ConditionExpression is required for a ConditionCheck")
		}
		k := w.t.itemKey(w.key)
		if seen[k] {
			return nil, validationError("Transaction request cannot include multiple operations on one item")
		}
		seen[k] = true
		ops = append(ops, w)
	}

	names := make([]string, 0, len(tables))
	for n := range tables {
		names = append(names, n)
	}
	unlock, err := s.lockTables(ctx, account, region, names...)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for n, t := range tables {
		cur, err := s.loadTable(ctx, account, region, n)
		if err != nil {
			return nil, err
		}
		if cur == nil || cur.ID != t.ID {
			return nil, tableNotFound()
		}
	}
	// Read and check everything first; write only if every check passes.
	reasons := make([]string, len(ops))
	details := make([]cancellationReason, len(ops))
	failed := false
	var writes []intentWrite
	type applied struct {
		key string
		rev uint64
		new item
	}
	var plan []applied
	for i, w := range ops {
		reasons[i] = "None"
		st, err := s.getItem(ctx, w.t, w.key)
		if err != nil {
			return nil, err
		}
		ok, err := w.holds(st.item)
		if err != nil {
			return nil, err
		}
		if !ok {
			reasons[i], failed = "ConditionalCheckFailed", true
			details[i] = cancellationReason{Code: reasons[i], Message: "The conditional request failed"}
			if w.returnOnFailure && st.item != nil {
				details[i].Item = st.item
			}
			continue
		}
		if w.check {
			continue
		}
		nv, err := w.next(st.item)
		if err != nil {
			var ae *awsproto.Error
			if errors.As(err, &ae) && ae.Code == codeValidation {
				reasons[i], failed = "ValidationError", true
				details[i] = cancellationReason{Code: reasons[i], Message: ae.Message}
				continue
			}
			return nil, err
		}
		iw := intentWrite{Key: st.key}
		if nv != nil {
			if iw.Value, err = json.Marshal(nv); err != nil {
				return nil, err
			}
		}
		writes = append(writes, iw)
		plan = append(plan, applied{st.key, st.rev, nv})
	}
	if failed {
		for i := range details {
			if details[i].Code == "" {
				details[i].Code = "None"
			}
		}
		e := awsproto.NewError(codeTransactionCanceled, "Transaction cancelled, please refer cancellation reasons for specific reasons [%s]", strings.Join(reasons, ", "))
		e.Fields = map[string]any{"CancellationReasons": details}
		return nil, e
	}
	if len(plan) == 0 {
		return &dynamodbapi.TransactWriteItemsOutput{}, nil
	}
	if len(plan) == 1 {
		if err := s.writeItem(ctx, plan[0].key, plan[0].rev, plan[0].new); err != nil {
			return nil, err
		}
		return &dynamodbapi.TransactWriteItemsOutput{}, nil
	}
	raw, err := json.Marshal(intent{Writes: writes})
	if err != nil {
		return nil, err
	}
	ikey := txnPrefix + uuid.NewString()
	irev, err := s.cat.Put(ctx, ikey, raw, 0)
	if err != nil {
		return nil, fmt.Errorf("recording transaction: %w", err)
	}
	for _, p := range plan {
		if err := s.writeItem(ctx, p.key, p.rev, p.new); err != nil {
			// The intent stays; the next start finishes the transaction.
			return nil, err
		}
	}
	if err := s.cat.Delete(ctx, ikey, irev); err != nil {
		return nil, fmt.Errorf("completing transaction: %w", err)
	}
	return &dynamodbapi.TransactWriteItemsOutput{}, nil
}

// recoverTransactions applies the writes of every recorded transaction and
// deletes the record. Applying a write twice gives the same result.
//
// In a cluster the record may belong to a transaction still running on
// another node, which holds its tables' locks until it has deleted the
// record: each record is finished under the same locks, and only if it
// is still there once they are held (the transaction's own node, or
// another node starting, may have finished it meanwhile). A record whose
// node died waits for that node's locks to expire (their lease).
func (s *Service) recoverTransactions(ctx context.Context) error {
	kvs, err := s.cat.List(ctx, txnPrefix)
	if err != nil {
		return fmt.Errorf("listing DynamoDB transactions: %w", err)
	}
	for _, kv := range kvs {
		var in intent
		if err := json.Unmarshal(kv.Value, &in); err != nil {
			return fmt.Errorf("transaction %s: %w", kv.Key, err)
		}
		if err := s.recoverTransaction(ctx, kv.Key, in); err != nil {
			return fmt.Errorf("transaction %s: %w", kv.Key, err)
		}
	}
	return nil
}

func (s *Service) recoverTransaction(ctx context.Context, key string, in intent) error {
	account, region, names, err := s.intentTables(ctx, in)
	if err != nil {
		return err
	}
	unlock, err := s.lockTables(ctx, account, region, names...)
	if err != nil {
		return err
	}
	defer unlock()
	raw, recRev, err := s.cat.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return nil // finished meanwhile
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(raw, &in); err != nil {
		return err
	}
	for _, w := range in.Writes {
		_, rev, err := s.cat.Get(ctx, w.Key)
		if errors.Is(err, storage.ErrNotFound) {
			rev = 0
		} else if err != nil {
			return err
		}
		if w.Value == nil {
			if rev != 0 {
				if err := s.cat.Delete(ctx, w.Key, rev); err != nil {
					return err
				}
			}
			continue
		}
		if _, err := s.cat.Put(ctx, w.Key, w.Value, rev); err != nil {
			return err
		}
	}
	if err := s.cat.Delete(ctx, key, recRev); err != nil {
		return err
	}
	s.logger.Info("finished an interrupted DynamoDB transaction", "record", key, "writes", len(in.Writes))
	return nil
}

// intentTables names the tables a transaction record writes (their
// locks' keys): its item keys hold the tables' account, region and ID,
// and the account's tables in the region are listed to find their names.
// A table no longer there needs no lock: nothing writes its items.
func (s *Service) intentTables(ctx context.Context, in intent) (account, region string, names []string, err error) {
	ids := map[string]bool{}
	for _, w := range in.Writes {
		// ddb/<account>/<region>/data/<id>/...
		parts := strings.SplitN(w.Key, "/", 6)
		if len(parts) < 6 || parts[0] != "ddb" || parts[3] != "data" {
			return "", "", nil, fmt.Errorf("item key %q is not a DynamoDB item's", w.Key)
		}
		if account == "" {
			account, region = parts[1], parts[2]
		} else if parts[1] != account || parts[2] != region {
			return "", "", nil, fmt.Errorf("items of more than one account and region (%s/%s and %s/%s)", account, region, parts[1], parts[2])
		}
		ids[parts[4]] = true
	}
	if len(ids) == 0 {
		return account, region, nil, nil
	}
	kvs, err := s.cat.List(ctx, tablePrefix(account, region))
	if err != nil {
		return "", "", nil, fmt.Errorf("listing tables: %w", err)
	}
	for _, kv := range kvs {
		var t tableMeta
		if err := json.Unmarshal(kv.Value, &t); err != nil {
			return "", "", nil, fmt.Errorf("table %s: decoding its definition: %w", kv.Key, err)
		}
		if ids[t.ID] {
			names = append(names, t.Name)
		}
	}
	return account, region, names, nil
}

// cancellationReason is one entry of a TransactionCanceledException's
// CancellationReasons, in request order: Code "None" for an item that would
// have been written, and the item itself when the request asked for it with
// ReturnValuesOnConditionCheckFailure ALL_OLD.
type cancellationReason struct {
	Code    string `json:"Code"`
	Message string `json:"Message,omitempty"`
	Item    item   `json:"Item,omitempty"`
}
