package dynamodb

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/google/uuid"
	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
)

const (
	billingProvisioned   = "PROVISIONED"
	billingPayPerRequest = "PAY_PER_REQUEST"
	maxGSIs              = 20
	maxLSIs              = 5
)

// checkKeySchema validates a key schema (table or index) against the
// attribute definitions.
func checkKeySchema(what string, ks []dynamodbapi.KeySchemaElement) error {
	if len(ks) == 0 || len(ks) > 2 {
		return validationError("Invalid KeySchema: Some index key attribute have no definition")
	}
	if ks[0].KeyType == nil || *ks[0].KeyType != "HASH" {
		return validationError("Invalid KeySchema: The first KeySchemaElement is not a HASH key type")
	}
	if len(ks) == 2 {
		if ks[1].KeyType == nil || *ks[1].KeyType != "RANGE" {
			return validationError("Invalid KeySchema: The second KeySchemaElement is not a RANGE key type")
		}
		if awsproto.Value(ks[0].AttributeName) == awsproto.Value(ks[1].AttributeName) {
			return validationError("Both the Hash Key and the Range Key element in the KeySchema have the same name")
		}
	}
	return nil
}

func checkProjection(p *dynamodbapi.Projection) error {
	if p == nil {
		return validationError("One or more parameter values were invalid: Projection must be specified")
	}
	pt := string(awsproto.Value(p.ProjectionType))
	if pt == "INCLUDE" {
		if len(p.NonKeyAttributes) == 0 {
			return validationError("One or more parameter values were invalid: ProjectionType is INCLUDE, but NonKeyAttributes is not specified")
		}
	} else if len(p.NonKeyAttributes) > 0 {
		return validationError("One or more parameter values were invalid: ProjectionType is %s, but NonKeyAttributes is specified", pt)
	}
	return nil
}

// checkAttributeDefinitions checks that the definitions name exactly the
// key attributes of the table and its indexes.
func checkAttributeDefinitions(defs []dynamodbapi.AttributeDefinition, schemas ...[]dynamodbapi.KeySchemaElement) error {
	defined := map[string]bool{}
	var names []string
	for _, d := range defs {
		n := awsproto.Value(d.AttributeName)
		if defined[n] {
			return validationError("Cannot have two attributes with the same name")
		}
		defined[n] = true
		names = append(names, n)
	}
	used := map[string]bool{}
	var missing []string
	for _, ks := range schemas {
		for _, k := range ks {
			n := awsproto.Value(k.AttributeName)
			if !defined[n] && !used[n] {
				missing = append(missing, n)
			}
			used[n] = true
		}
	}
	if len(missing) > 0 {
		return validationError("One or more parameter values were invalid: Some index key attributes are not defined in AttributeDefinitions. Keys: [%s], AttributeDefinitions: [%s]", strings.Join(missing, ", "), strings.Join(names, ", "))
	}
	if len(used) != len(defined) {
		return validationError("One or more parameter values were invalid: Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions")
	}
	return nil
}

func (s *Service) createTable(ctx context.Context, in *dynamodbapi.CreateTableInput) (*dynamodbapi.CreateTableOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	if name == "" {
		return nil, validationError("TableName names no table: %s", awsproto.Value(in.TableName))
	}
	if in.ResourcePolicy != nil {
		// Ignoring it would drop its denies without a word.
		return nil, validationError("Millrace does not serve resource-based policies on DynamoDB tables; see docs/dynamodb.md")
	}
	if err := checkKeySchema("table", in.KeySchema); err != nil {
		return nil, err
	}
	billing := string(awsproto.Value(in.BillingMode))
	if billing == "" {
		billing = billingProvisioned
	}
	schemas := [][]dynamodbapi.KeySchemaElement{in.KeySchema}
	t := &tableMeta{
		Name: name, ID: uuid.NewString(), Account: account, Region: region,
		Created:              epoch(s.now()),
		KeySchema:            in.KeySchema,
		AttributeDefinitions: in.AttributeDefinitions,
		BillingMode:          billing,
		Stream:               in.StreamSpecification,
		SSE:                  in.SSESpecification,
		TableClass:           string(awsproto.Value(in.TableClass)),
		DeletionProtection:   awsproto.Value(in.DeletionProtectionEnabled),
		Tags:                 in.Tags,
		OnDemand:             in.OnDemandThroughput,
		Warm:                 in.WarmThroughput,
	}
	switch billing {
	case billingProvisioned:
		if in.ProvisionedThroughput == nil {
			return nil, validationError("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED")
		}
		t.Read = awsproto.Value(in.ProvisionedThroughput.ReadCapacityUnits)
		t.Write = awsproto.Value(in.ProvisionedThroughput.WriteCapacityUnits)
	case billingPayPerRequest:
		if in.ProvisionedThroughput != nil {
			return nil, validationError("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		t.BillingModeUpdated = t.Created
	}
	if len(in.GlobalSecondaryIndexes) > maxGSIs {
		return nil, apiErr(codeLimitExceeded, "Subscriber limit exceeded: The number of global secondary indexes exceeds the limit of %d", maxGSIs)
	}
	if len(in.LocalSecondaryIndexes) > maxLSIs {
		return nil, validationError("One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of %d", maxLSIs)
	}
	seen := map[string]bool{}
	for _, g := range in.GlobalSecondaryIndexes {
		idx, err := newIndex(billing, awsproto.Value(g.IndexName), g.KeySchema, g.Projection, g.ProvisionedThroughput, seen)
		if err != nil {
			return nil, err
		}
		idx.Created = t.Created
		t.GSIs = append(t.GSIs, idx)
		schemas = append(schemas, g.KeySchema)
	}
	hash, rng := t.keys()
	for _, l := range in.LocalSecondaryIndexes {
		idx, err := newIndex(billingPayPerRequest, awsproto.Value(l.IndexName), l.KeySchema, l.Projection, nil, seen)
		if err != nil {
			return nil, err
		}
		if rng == "" {
			return nil, validationError("One or more parameter values were invalid: Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex")
		}
		if h, _ := keyNames(l.KeySchema); h != hash || len(l.KeySchema) != 2 {
			return nil, validationError("One or more parameter values were invalid: Index KeySchema does not have the same leading hash key as table KeySchema for index: %s. index hash key: %s, table hash key: %s", idx.Name, h, hash)
		}
		t.LSIs = append(t.LSIs, idx)
		schemas = append(schemas, l.KeySchema)
	}
	if err := checkAttributeDefinitions(in.AttributeDefinitions, schemas...); err != nil {
		return nil, err
	}

	unlock, err := s.lockTables(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	old, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if old != nil {
		return nil, apiErr(codeResourceInUse, "Table already exists: %s", name)
	}
	if err := s.saveTable(ctx, t); err != nil {
		return nil, err
	}
	// The table is usable as soon as it is stored; the response reports
	// the CREATING state AWS reports, and every later read sees ACTIVE.
	d := s.describe(t, 0, "CREATING")
	for i := range d.GlobalSecondaryIndexes {
		d.GlobalSecondaryIndexes[i].IndexStatus = awsproto.Ptr(dynamodbapi.IndexStatus("CREATING"))
	}
	return &dynamodbapi.CreateTableOutput{TableDescription: d}, nil
}

func newIndex(billing, name string, ks []dynamodbapi.KeySchemaElement, p *dynamodbapi.Projection, pt *dynamodbapi.ProvisionedThroughput, seen map[string]bool) (indexMeta, error) {
	if seen[name] {
		return indexMeta{}, validationError("One or more parameter values were invalid: Duplicate index name: %s", name)
	}
	seen[name] = true
	if err := checkKeySchema("index", ks); err != nil {
		return indexMeta{}, err
	}
	if err := checkProjection(p); err != nil {
		return indexMeta{}, err
	}
	idx := indexMeta{Name: name, KeySchema: ks, Projection: *p}
	switch billing {
	case billingProvisioned:
		if pt == nil {
			return indexMeta{}, validationError("One or more parameter values were invalid: ProvisionedThroughput must be specified for index: %s", name)
		}
		idx.Read, idx.Write = awsproto.Value(pt.ReadCapacityUnits), awsproto.Value(pt.WriteCapacityUnits)
	default:
		if pt != nil {
			return indexMeta{}, validationError("One or more parameter values were invalid: ProvisionedThroughput should not be specified for index: %s when BillingMode is PAY_PER_REQUEST", name)
		}
	}
	return idx, nil
}

// describe builds the TableDescription; status "" means ACTIVE.
func (s *Service) describe(t *tableMeta, itemCount int64, status string) *dynamodbapi.TableDescription {
	if status == "" {
		status = "ACTIVE"
	}
	d := &dynamodbapi.TableDescription{
		TableName:                 awsproto.Ptr(t.Name),
		TableArn:                  awsproto.Ptr(t.arn()),
		TableId:                   awsproto.Ptr(t.ID),
		TableStatus:               awsproto.Ptr(dynamodbapi.TableStatus(status)),
		CreationDateTime:          fromEpoch(t.Created),
		KeySchema:                 t.KeySchema,
		AttributeDefinitions:      t.AttributeDefinitions,
		ItemCount:                 awsproto.Ptr(itemCount),
		TableSizeBytes:            awsproto.Ptr(int64(0)),
		DeletionProtectionEnabled: awsproto.Ptr(t.DeletionProtection),
		ProvisionedThroughput:     throughput(t.Read, t.Write),
		StreamSpecification:       t.Stream,
		OnDemandThroughput:        t.OnDemand,
	}
	if t.BillingMode == billingPayPerRequest {
		d.BillingModeSummary = &dynamodbapi.BillingModeSummary{
			BillingMode:                       awsproto.Ptr(dynamodbapi.BillingMode(billingPayPerRequest)),
			LastUpdateToPayPerRequestDateTime: fromEpoch(t.BillingModeUpdated),
		}
	} else {
		d.BillingModeSummary = &dynamodbapi.BillingModeSummary{BillingMode: awsproto.Ptr(dynamodbapi.BillingMode(billingProvisioned))}
	}
	if t.Stream != nil && awsproto.Value(t.Stream.StreamEnabled) {
		label := fromEpoch(t.Created).Time.Format("2006-01-02T15:04:05.000")
		d.LatestStreamLabel = &label
		d.LatestStreamArn = awsproto.Ptr(t.arn() + "/stream/" + label)
	}
	if t.TableClass != "" {
		d.TableClassSummary = &dynamodbapi.TableClassSummary{TableClass: awsproto.Ptr(dynamodbapi.TableClass(t.TableClass))}
	}
	if t.SSE != nil && awsproto.Value(t.SSE.Enabled) {
		d.SSEDescription = &dynamodbapi.SSEDescription{
			Status:  awsproto.Ptr(dynamodbapi.SSEStatus("ENABLED")),
			SSEType: awsproto.Ptr(dynamodbapi.SSEType("KMS")),
		}
	}
	for _, g := range t.GSIs {
		p := g.Projection
		d.GlobalSecondaryIndexes = append(d.GlobalSecondaryIndexes, dynamodbapi.GlobalSecondaryIndexDescription{
			IndexName:             awsproto.Ptr(g.Name),
			IndexArn:              awsproto.Ptr(t.arn() + "/index/" + g.Name),
			IndexStatus:           awsproto.Ptr(dynamodbapi.IndexStatus("ACTIVE")),
			KeySchema:             g.KeySchema,
			Projection:            &p,
			ProvisionedThroughput: throughput(g.Read, g.Write),
			IndexSizeBytes:        awsproto.Ptr(int64(0)),
			ItemCount:             awsproto.Ptr(int64(0)),
		})
	}
	for _, l := range t.LSIs {
		p := l.Projection
		d.LocalSecondaryIndexes = append(d.LocalSecondaryIndexes, dynamodbapi.LocalSecondaryIndexDescription{
			IndexName:      awsproto.Ptr(l.Name),
			IndexArn:       awsproto.Ptr(t.arn() + "/index/" + l.Name),
			KeySchema:      l.KeySchema,
			Projection:     &p,
			IndexSizeBytes: awsproto.Ptr(int64(0)),
			ItemCount:      awsproto.Ptr(int64(0)),
		})
	}
	return d
}

func throughput(r, w int64) *dynamodbapi.ProvisionedThroughputDescription {
	return &dynamodbapi.ProvisionedThroughputDescription{
		NumberOfDecreasesToday: awsproto.Ptr(int64(0)),
		ReadCapacityUnits:      awsproto.Ptr(r),
		WriteCapacityUnits:     awsproto.Ptr(w),
	}
}

// countItems counts a table's items and their stored size.
func (s *Service) countItems(ctx context.Context, t *tableMeta) (int64, int64, error) {
	kvs, err := s.cat.List(ctx, t.dataPrefix())
	if err != nil {
		return 0, 0, err
	}
	var size int64
	for _, kv := range kvs {
		size += int64(len(kv.Value))
	}
	return int64(len(kvs)), size, nil
}

func (s *Service) describeTable(ctx context.Context, in *dynamodbapi.DescribeTableInput) (*dynamodbapi.DescribeTableOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	t, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, tableNotFoundNamed(name)
	}
	n, size, err := s.countItems(ctx, t)
	if err != nil {
		return nil, err
	}
	d := s.describe(t, n, "")
	d.TableSizeBytes = &size
	return &dynamodbapi.DescribeTableOutput{Table: d}, nil
}

func (s *Service) deleteTable(ctx context.Context, in *dynamodbapi.DeleteTableInput) (*dynamodbapi.DeleteTableOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	unlock, err := s.lockTables(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, tableNotFound()
	}
	if t.DeletionProtection {
		return nil, validationError("Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first.")
	}
	n, _, err := s.countItems(ctx, t)
	if err != nil {
		return nil, err
	}
	// The definition goes first: items left behind by a crash belong to a
	// table id no definition names, and are never read again.
	if err := s.cat.Delete(ctx, metaKey(account, region, name), t.rev); err != nil {
		return nil, fmt.Errorf("deleting table %s: %w", name, err)
	}
	items, err := s.cat.List(ctx, t.dataPrefix())
	if err != nil {
		return nil, err
	}
	for _, kv := range items {
		if err := s.cat.Delete(ctx, kv.Key, kv.Rev); err != nil {
			return nil, fmt.Errorf("deleting items of table %s: %w", name, err)
		}
	}
	return &dynamodbapi.DeleteTableOutput{TableDescription: s.describe(t, n, "DELETING")}, nil
}

func (s *Service) listTables(ctx context.Context, in *dynamodbapi.ListTablesInput) (*dynamodbapi.ListTablesOutput, error) {
	account, region := caller(ctx)
	limit := 100
	if in.Limit != nil {
		limit = int(*in.Limit)
	}
	prefix := tablePrefix(account, region)
	kvs, err := s.cat.List(ctx, prefix)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, kv := range kvs {
		names = append(names, strings.TrimPrefix(kv.Key, prefix))
	}
	sort.Strings(names)
	start := awsproto.Value(in.ExclusiveStartTableName)
	out := &dynamodbapi.ListTablesOutput{TableNames: []string{}}
	for _, n := range names {
		if start != "" && n <= start {
			continue
		}
		if len(out.TableNames) == limit {
			out.LastEvaluatedTableName = awsproto.Ptr(out.TableNames[len(out.TableNames)-1])
			break
		}
		out.TableNames = append(out.TableNames, n)
	}
	return out, nil
}

func (s *Service) updateTable(ctx context.Context, in *dynamodbapi.UpdateTableInput) (*dynamodbapi.UpdateTableOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	unlock, err := s.lockTables(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, tableNotFound()
	}
	changed := false
	var creating []string
	if in.BillingMode != nil && string(*in.BillingMode) != t.BillingMode {
		t.BillingMode = string(*in.BillingMode)
		if t.BillingMode == billingPayPerRequest {
			if in.ProvisionedThroughput != nil {
				return nil, validationError("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
			}
			t.Read, t.Write = 0, 0
			t.BillingModeUpdated = epoch(s.now())
			for i := range t.GSIs {
				t.GSIs[i].Read, t.GSIs[i].Write = 0, 0
			}
		} else if in.ProvisionedThroughput == nil {
			return nil, validationError("One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
		}
		changed = true
	}
	if in.ProvisionedThroughput != nil {
		if t.BillingMode == billingPayPerRequest {
			return nil, validationError("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		t.Read = awsproto.Value(in.ProvisionedThroughput.ReadCapacityUnits)
		t.Write = awsproto.Value(in.ProvisionedThroughput.WriteCapacityUnits)
		changed = true
	}
	if in.DeletionProtectionEnabled != nil {
		t.DeletionProtection = *in.DeletionProtectionEnabled
		changed = true
	}
	if in.StreamSpecification != nil {
		t.Stream = in.StreamSpecification
		changed = true
	}
	if in.SSESpecification != nil {
		t.SSE = in.SSESpecification
		changed = true
	}
	if in.TableClass != nil {
		t.TableClass = string(*in.TableClass)
		changed = true
	}
	if in.OnDemandThroughput != nil {
		t.OnDemand = in.OnDemandThroughput
		changed = true
	}
	if in.WarmThroughput != nil {
		t.Warm = in.WarmThroughput
		changed = true
	}
	if len(in.GlobalSecondaryIndexUpdates) > 0 {
		seen := map[string]bool{}
		for _, g := range t.GSIs {
			seen[g.Name] = true
		}
		for _, l := range t.LSIs {
			seen[l.Name] = true
		}
		// New definitions add to the existing ones.
		defs := append([]dynamodbapi.AttributeDefinition(nil), t.AttributeDefinitions...)
		for _, d := range in.AttributeDefinitions {
			found := false
			for i := range defs {
				if awsproto.Value(defs[i].AttributeName) == awsproto.Value(d.AttributeName) {
					if awsproto.Value(defs[i].AttributeType) != awsproto.Value(d.AttributeType) {
						return nil, validationError("One or more parameter values were invalid: Attribute %s is already defined with type %s", awsproto.Value(d.AttributeName), awsproto.Value(defs[i].AttributeType))
					}
					found = true
				}
			}
			if !found {
				defs = append(defs, d)
			}
		}
		for _, u := range in.GlobalSecondaryIndexUpdates {
			switch {
			case u.Create != nil:
				c := u.Create
				idx, err := newIndex(t.BillingMode, awsproto.Value(c.IndexName), c.KeySchema, c.Projection, c.ProvisionedThroughput, seen)
				if err != nil {
					if seen[awsproto.Value(c.IndexName)] && t.index(awsproto.Value(c.IndexName)) != nil {
						return nil, validationError("One or more parameter values were invalid: Attempting to create an index which already exists")
					}
					return nil, err
				}
				if len(t.GSIs) >= maxGSIs {
					return nil, apiErr(codeLimitExceeded, "Subscriber limit exceeded: The number of global secondary indexes exceeds the limit of %d", maxGSIs)
				}
				idx.Created = epoch(s.now())
				t.GSIs = append(t.GSIs, idx)
				creating = append(creating, idx.Name)
			case u.Delete != nil:
				n := awsproto.Value(u.Delete.IndexName)
				i := indexPos(t.GSIs, n)
				if i < 0 {
					return nil, apiErr(codeResourceNotFound, "Requested resource not found: Index: %s not found", n)
				}
				t.GSIs = append(t.GSIs[:i], t.GSIs[i+1:]...)
			case u.Update != nil:
				n := awsproto.Value(u.Update.IndexName)
				i := indexPos(t.GSIs, n)
				if i < 0 {
					return nil, apiErr(codeResourceNotFound, "Requested resource not found: Index: %s not found", n)
				}
				if pt := u.Update.ProvisionedThroughput; pt != nil {
					t.GSIs[i].Read, t.GSIs[i].Write = awsproto.Value(pt.ReadCapacityUnits), awsproto.Value(pt.WriteCapacityUnits)
				}
			}
		}
		schemas := [][]dynamodbapi.KeySchemaElement{t.KeySchema}
		for _, g := range t.GSIs {
			schemas = append(schemas, g.KeySchema)
		}
		for _, l := range t.LSIs {
			schemas = append(schemas, l.KeySchema)
		}
		// Definitions no key uses any more are dropped, as AWS does.
		used := map[string]bool{}
		for _, ks := range schemas {
			for _, k := range ks {
				used[awsproto.Value(k.AttributeName)] = true
			}
		}
		var kept []dynamodbapi.AttributeDefinition
		for _, d := range defs {
			if used[awsproto.Value(d.AttributeName)] {
				kept = append(kept, d)
			}
		}
		if err := checkAttributeDefinitions(kept, schemas...); err != nil {
			return nil, err
		}
		t.AttributeDefinitions = kept
		// Existing items must fit the new index keys' types.
		if len(creating) > 0 {
			items, err := s.listItems(ctx, t.dataPrefix())
			if err != nil {
				return nil, err
			}
			for _, it := range items {
				if err := t.checkItem(it.item); err != nil {
					return nil, err
				}
			}
		}
		changed = true
	} else if len(in.AttributeDefinitions) > 0 && !changed {
		return nil, validationError("The number of attribute definitions does not match the number of key attributes")
	}
	if !changed {
		return nil, validationError("At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required")
	}
	if err := s.saveTable(ctx, t); err != nil {
		return nil, err
	}
	n, _, err := s.countItems(ctx, t)
	if err != nil {
		return nil, err
	}
	// Indexes are usable at once (queries read the table); the response
	// shows a new index CREATING, as AWS does.
	d := s.describe(t, n, "UPDATING")
	for i := range d.GlobalSecondaryIndexes {
		for _, c := range creating {
			if awsproto.Value(d.GlobalSecondaryIndexes[i].IndexName) == c {
				d.GlobalSecondaryIndexes[i].IndexStatus = awsproto.Ptr(dynamodbapi.IndexStatus("CREATING"))
				d.GlobalSecondaryIndexes[i].Backfilling = awsproto.Ptr(false)
			}
		}
	}
	return &dynamodbapi.UpdateTableOutput{TableDescription: d}, nil
}

func indexPos(idx []indexMeta, name string) int {
	for i := range idx {
		if idx[i].Name == name {
			return i
		}
	}
	return -1
}

func (s *Service) continuousBackups(t *tableMeta) *dynamodbapi.ContinuousBackupsDescription {
	d := &dynamodbapi.ContinuousBackupsDescription{
		ContinuousBackupsStatus: awsproto.Ptr(dynamodbapi.ContinuousBackupsStatus("ENABLED")),
		PointInTimeRecoveryDescription: &dynamodbapi.PointInTimeRecoveryDescription{
			PointInTimeRecoveryStatus: awsproto.Ptr(dynamodbapi.PointInTimeRecoveryStatus("DISABLED")),
		},
	}
	if t.PITR {
		p := d.PointInTimeRecoveryDescription
		p.PointInTimeRecoveryStatus = awsproto.Ptr(dynamodbapi.PointInTimeRecoveryStatus("ENABLED"))
		p.RecoveryPeriodInDays = awsproto.Ptr(t.PITRDays)
		p.EarliestRestorableDateTime = fromEpoch(t.PITRSince)
		p.LatestRestorableDateTime = &awsproto.Timestamp{Time: s.now().UTC().Add(-5 * 1e9).Truncate(1e6)}
	}
	return d
}

func (s *Service) updateContinuousBackups(ctx context.Context, in *dynamodbapi.UpdateContinuousBackupsInput) (*dynamodbapi.UpdateContinuousBackupsOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	unlock, err := s.lockTables(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	defer unlock()
	t, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, apiErr("TableNotFoundException", "Table not found: %s", name)
	}
	spec := in.PointInTimeRecoverySpecification
	if spec == nil || spec.PointInTimeRecoveryEnabled == nil {
		return nil, validationError("1 validation error detected: Value null at 'pointInTimeRecoverySpecification.pointInTimeRecoveryEnabled' failed to satisfy constraint: Member must not be null")
	}
	days := awsproto.Value(spec.RecoveryPeriodInDays)
	if days == 0 {
		days = 35
	}
	if days < 1 || days > 35 {
		return nil, validationError("RecoveryPeriodInDays must be between 1 and 35")
	}
	if *spec.PointInTimeRecoveryEnabled {
		if !t.PITR {
			t.PITRSince = epoch(s.now())
		}
		t.PITR, t.PITRDays = true, days
	} else {
		t.PITR, t.PITRDays, t.PITRSince = false, 0, 0
	}
	if err := s.saveTable(ctx, t); err != nil {
		return nil, err
	}
	return &dynamodbapi.UpdateContinuousBackupsOutput{ContinuousBackupsDescription: s.continuousBackups(t)}, nil
}

func (s *Service) describeContinuousBackups(ctx context.Context, in *dynamodbapi.DescribeContinuousBackupsInput) (*dynamodbapi.DescribeContinuousBackupsOutput, error) {
	account, region := caller(ctx)
	name := tableName(awsproto.Value(in.TableName))
	t, err := s.loadTable(ctx, account, region, name)
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, apiErr("TableNotFoundException", "Table not found: %s", name)
	}
	return &dynamodbapi.DescribeContinuousBackupsOutput{ContinuousBackupsDescription: s.continuousBackups(t)}, nil
}
