package dynamodb

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
	"github.com/millrace/millrace/internal/storage"
)

// tableMeta is a table's definition as stored in the catalog.
type tableMeta struct {
	Name                 string                               `json:"name"`
	ID                   string                               `json:"id"`
	Account              string                               `json:"account"`
	Region               string                               `json:"region"`
	Created              float64                              `json:"created"` // epoch seconds
	KeySchema            []dynamodbapi.KeySchemaElement       `json:"keySchema"`
	AttributeDefinitions []dynamodbapi.AttributeDefinition    `json:"attributeDefinitions"`
	GSIs                 []indexMeta                          `json:"gsis,omitempty"`
	LSIs                 []indexMeta                          `json:"lsis,omitempty"`
	BillingMode          string                               `json:"billingMode"`
	BillingModeUpdated   float64                              `json:"billingModeUpdated,omitempty"`
	Read                 int64                                `json:"read,omitempty"`
	Write                int64                                `json:"write,omitempty"`
	Stream               *dynamodbapi.StreamSpecification     `json:"stream,omitempty"`
	SSE                  *dynamodbapi.SSESpecification        `json:"sse,omitempty"`
	TableClass           string                               `json:"tableClass,omitempty"`
	DeletionProtection   bool                                 `json:"deletionProtection,omitempty"`
	PITR                 bool                                 `json:"pitr,omitempty"`
	PITRDays             int32                                `json:"pitrDays,omitempty"`
	PITRSince            float64                              `json:"pitrSince,omitempty"`
	Tags                 []dynamodbapi.Tag                    `json:"tags,omitempty"`
	OnDemand             *dynamodbapi.OnDemandThroughput      `json:"onDemand,omitempty"`
	Warm                 *dynamodbapi.WarmThroughput          `json:"warm,omitempty"`
	TTL                  *dynamodbapi.TimeToLiveSpecification `json:"ttl,omitempty"`
	rev                  uint64
}

// indexMeta is a secondary index.
type indexMeta struct {
	Name       string                         `json:"name"`
	KeySchema  []dynamodbapi.KeySchemaElement `json:"keySchema"`
	Projection dynamodbapi.Projection         `json:"projection"`
	Read       int64                          `json:"read,omitempty"`
	Write      int64                          `json:"write,omitempty"`
	Created    float64                        `json:"created,omitempty"`
}

func (t *tableMeta) arn() string {
	return tableARN(t.Region, t.Account, t.Name)
}

// hashKey and rangeKey name the table's key attributes ("" for no range).
func keyNames(ks []dynamodbapi.KeySchemaElement) (hash, rng string) {
	for _, k := range ks {
		switch awsproto.Value(k.KeyType) {
		case "HASH":
			hash = awsproto.Value(k.AttributeName)
		case "RANGE":
			rng = awsproto.Value(k.AttributeName)
		}
	}
	return hash, rng
}

func (t *tableMeta) keys() (string, string) { return keyNames(t.KeySchema) }

func (t *tableMeta) attrType(name string) string {
	for _, d := range t.AttributeDefinitions {
		if awsproto.Value(d.AttributeName) == name && d.AttributeType != nil {
			return string(*d.AttributeType)
		}
	}
	return ""
}

// index finds a secondary index by name.
func (t *tableMeta) index(name string) *indexMeta {
	for i := range t.GSIs {
		if t.GSIs[i].Name == name {
			return &t.GSIs[i]
		}
	}
	for i := range t.LSIs {
		if t.LSIs[i].Name == name {
			return &t.LSIs[i]
		}
	}
	return nil
}

func (t *tableMeta) isGSI(name string) bool {
	for i := range t.GSIs {
		if t.GSIs[i].Name == name {
			return true
		}
	}
	return false
}

// Catalog layout:
//
//	ddb/<account>/<region>/table/<name>          table definition (JSON)
//	ddb/<account>/<region>/data/<id>/<hash>/<range>  one item (JSON)
//	ddb/txn/<id>                                 a transaction's writes, while they are applied
//
// Key values are encoded so that catalog order is DynamoDB order: strings
// and binaries as lower-case hex of their bytes, numbers by number.sortKey.
// The encodings never contain '/', which sorts below every character they
// use.
func tablePrefix(account, region string) string {
	return "ddb/" + account + "/" + region + "/table/"
}

func metaKey(account, region, name string) string {
	return tablePrefix(account, region) + name
}

func (t *tableMeta) dataPrefix() string {
	return "ddb/" + t.Account + "/" + t.Region + "/data/" + t.ID + "/"
}

const txnPrefix = "ddb/txn/"

// encodeKeyValue encodes a key attribute value.
func encodeKeyValue(v *av) string {
	switch typeOf(v) {
	case typeS:
		return hex.EncodeToString([]byte(*v.S))
	case typeB:
		return hex.EncodeToString(v.B)
	case typeN:
		return mustNumber(v).sortKey()
	}
	return ""
}

// itemKey is the catalog key of the item with primary key k.
func (t *tableMeta) itemKey(k item) string {
	h, r := t.keys()
	hv := k[h]
	s := t.dataPrefix() + encodeKeyValue(&hv) + "/"
	if r != "" {
		rv := k[r]
		s += encodeKeyValue(&rv)
	}
	return s
}

// keyOf extracts the primary key attributes of an item.
func (t *tableMeta) keyOf(it item) item {
	h, r := t.keys()
	k := item{h: it[h]}
	if r != "" {
		k[r] = it[r]
	}
	return k
}

// checkKey validates a Key parameter against the schema.
func (t *tableMeta) checkKey(k item) (item, error) {
	h, r := t.keys()
	want := 1
	if r != "" {
		want = 2
	}
	if len(k) != want {
		return nil, validationError("The provided key element does not match the schema")
	}
	out := item{}
	for _, name := range []string{h, r} {
		if name == "" {
			continue
		}
		v, ok := k[name]
		if !ok {
			return nil, validationError("The provided key element does not match the schema")
		}
		n, err := normalizeValue(v)
		if err != nil {
			return nil, err
		}
		if typeOf(&n) != t.attrType(name) {
			return nil, validationError("The provided key element does not match the schema")
		}
		if err := checkKeyNotEmpty(name, &n); err != nil {
			return nil, err
		}
		out[name] = n
	}
	return out, nil
}

func checkKeyNotEmpty(name string, v *av) error {
	if v.S != nil && *v.S == "" || v.B != nil && len(v.B) == 0 {
		return validationError("One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty %s value. Key: %s", emptyKind(v), name)
	}
	return nil
}

func emptyKind(v *av) string {
	if v.B != nil {
		return "binary"
	}
	return "string"
}

const maxItemBytes = 400 * 1024

// checkItem validates a whole item to be stored: key attributes present
// with their types, secondary-index keys with theirs, and the size limit.
func (t *tableMeta) checkItem(it item) error {
	h, r := t.keys()
	for _, name := range []string{h, r} {
		if name == "" {
			continue
		}
		v, ok := it[name]
		if !ok {
			return validationError("One or more parameter values were invalid: Missing the key %s in the item", name)
		}
		if got, want := typeOf(&v), t.attrType(name); got != want {
			return validationError("One or more parameter values were invalid: Type mismatch for key %s expected: %s actual: %s", name, want, got)
		}
		if err := checkKeyNotEmpty(name, &v); err != nil {
			return err
		}
	}
	for _, idx := range append(append([]indexMeta(nil), t.GSIs...), t.LSIs...) {
		for _, ks := range idx.KeySchema {
			name := awsproto.Value(ks.AttributeName)
			v, ok := it[name]
			if !ok {
				continue
			}
			if got, want := typeOf(&v), t.attrType(name); got != want {
				return validationError("One or more parameter values were invalid: Type mismatch for Index Key %s Expected: %s Actual: %s IndexName: %s", name, want, got, idx.Name)
			}
			if v.S != nil && *v.S == "" || v.B != nil && len(v.B) == 0 {
				return validationError("One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty %s value. IndexName: %s, IndexKey: %s", emptyKind(&v), idx.Name, name)
			}
		}
	}
	if storedSize(it) > maxItemBytes {
		return validationError("Item size has exceeded the maximum allowed size")
	}
	return nil
}

// ---- catalog access ----

func (s *Service) loadTable(ctx context.Context, account, region, name string) (*tableMeta, error) {
	raw, rev, err := s.cat.Get(ctx, metaKey(account, region, name))
	if errors.Is(err, storage.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var t tableMeta
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("table %s: decoding its definition: %w", name, err)
	}
	t.rev = rev
	return &t, nil
}

func (s *Service) saveTable(ctx context.Context, t *tableMeta) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return err
	}
	rev, err := s.cat.Put(ctx, metaKey(t.Account, t.Region, t.Name), raw, t.rev)
	if err != nil {
		return fmt.Errorf("table %s: storing its definition: %w", t.Name, err)
	}
	t.rev = rev
	return nil
}

// storedItem is an item read from the catalog with its revision (0: absent).
type storedItem struct {
	key  string
	item item
	rev  uint64
}

func (s *Service) getItem(ctx context.Context, t *tableMeta, k item) (storedItem, error) {
	key := t.itemKey(k)
	raw, rev, err := s.cat.Get(ctx, key)
	if errors.Is(err, storage.ErrNotFound) {
		return storedItem{key: key}, nil
	}
	if err != nil {
		return storedItem{}, err
	}
	it, err := decodeItem(raw)
	if err != nil {
		return storedItem{}, fmt.Errorf("item %s: %w", key, err)
	}
	return storedItem{key: key, item: it, rev: rev}, nil
}

func decodeItem(raw []byte) (item, error) {
	var it item
	if err := json.Unmarshal(raw, &it); err != nil {
		return nil, err
	}
	return it, nil
}

// writeItem stores (it != nil) or deletes (it == nil) an item whose current
// revision is rev. The caller holds the table lock, so a conflict means the
// catalog changed under it: an internal error.
func (s *Service) writeItem(ctx context.Context, key string, rev uint64, it item) error {
	if it == nil {
		if rev == 0 {
			return nil
		}
		if err := s.cat.Delete(ctx, key, rev); err != nil {
			return fmt.Errorf("deleting item %s: %w", key, err)
		}
		return nil
	}
	raw, err := json.Marshal(it)
	if err != nil {
		return err
	}
	if _, err := s.cat.Put(ctx, key, raw, rev); err != nil {
		return fmt.Errorf("storing item %s: %w", key, err)
	}
	return nil
}

// listItems returns every item under prefix in catalog order.
func (s *Service) listItems(ctx context.Context, prefix string) ([]storedItem, error) {
	kvs, err := s.cat.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	out := make([]storedItem, 0, len(kvs))
	for _, kv := range kvs {
		it, err := decodeItem(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("item %s: %w", kv.Key, err)
		}
		out = append(out, storedItem{key: kv.Key, item: it, rev: kv.Rev})
	}
	return out, nil
}

// tableName accepts a table name or a table ARN.
func tableName(s string) string {
	if strings.HasPrefix(s, "arn:") {
		if i := strings.Index(s, ":table/"); i >= 0 {
			name := s[i+len(":table/"):]
			if j := strings.IndexByte(name, '/'); j >= 0 {
				name = name[:j]
			}
			return name
		}
	}
	return s
}

func epoch(t time.Time) float64 { return float64(t.UnixMilli()) / 1000 }

func fromEpoch(f float64) *awsproto.Timestamp {
	return &awsproto.Timestamp{Time: time.UnixMilli(int64(f * 1000)).UTC()}
}
