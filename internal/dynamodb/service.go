package dynamodb

import (
	"context"
	"log/slog"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/millrace/millrace/internal/awsproto"
	"github.com/millrace/millrace/internal/dynamodb/dynamodbapi"
	"github.com/millrace/millrace/internal/storage"
)

// Options configures the service.
type Options struct {
	Catalog storage.Catalog
	Logger  *slog.Logger
	Now     func() time.Time // nil: time.Now
	// ClusterLocks makes every table lock a lock in the catalog too, held
	// across the nodes of a cluster that share it.
	ClusterLocks bool
}

// Service is the DynamoDB API subset Millrace serves: tables and items kept
// durably in the storage engine's catalog.
type Service struct {
	cat    storage.Catalog
	logger *slog.Logger
	now    func() time.Time

	clusterLocks bool

	mu    sync.Mutex
	locks map[string]*sync.Mutex // per table: account/region/name
}

// New returns the service and finishes any transaction a crash interrupted
// (its writes were recorded before the first one was applied).
func New(ctx context.Context, opts Options) (*Service, error) {
	s := &Service{cat: opts.Catalog, logger: opts.Logger, now: opts.Now, locks: map[string]*sync.Mutex{}, clusterLocks: opts.ClusterLocks}
	if s.logger == nil {
		s.logger = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	if err := s.recoverTransactions(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

// Register serves the operations on r under DynamoDB_20120810, JSON 1.0.
// Every response carries X-Amz-Crc32, as DynamoDB's do (the SDKs check
// it), and is gzipped when the client asks and the body is large enough.
func (s *Service) Register(r *awsproto.Router) {
	r.Register(dynamodbapi.TargetPrefix, dynamodbapi.JSONVersion, s.handlers(),
		awsproto.ResponseCRC32(), awsproto.GzipResponses())
}

func (s *Service) handlers() map[string]awsproto.Handler {
	h := map[string]awsproto.Handler{
		"CreateTable":               handle(s.createTable),
		"DescribeTable":             handle(s.describeTable),
		"DeleteTable":               handle(s.deleteTable),
		"ListTables":                handle(s.listTables),
		"UpdateTable":               handle(s.updateTable),
		"UpdateContinuousBackups":   handle(s.updateContinuousBackups),
		"DescribeContinuousBackups": handle(s.describeContinuousBackups),
		"GetItem":                   handle(s.getItemOp),
		"PutItem":                   handle(s.putItem),
		"UpdateItem":                handle(s.updateItem),
		"DeleteItem":                handle(s.deleteItem),
		"Scan":                      handle(s.scan),
		"Query":                     handle(s.query),
		"TransactWriteItems":        handle(s.transactWriteItems),
		"DescribeEndpoints":         handle(s.describeEndpoints),
	}
	// Every other operation of the model: validated, then 501.
	for _, op := range dynamodbapi.Operations {
		if _, ok := h[op.Name]; !ok {
			h[op.Name] = notImplemented(op.Name)
		}
	}
	return h
}

// handle adapts a typed operation, authorizes each decoded and validated
// request before running it (see authz.go) and gives errors DynamoDB's
// __type.
func handle[In, Out any](fn func(context.Context, *In) (*Out, error)) awsproto.Handler {
	op := awsproto.Op(func(ctx context.Context, in *In) (*Out, error) {
		if err := authorize(ctx, in); err != nil {
			return nil, err
		}
		return fn(ctx, in)
	})
	return func(ctx context.Context, body []byte) (any, error) {
		out, err := op(ctx, body)
		return out, wireError(err)
	}
}

// notImplemented answers operations Millrace does not offer with 501
// NotImplemented, never a fake success. The body is not decoded: the
// generated shapes of these operations are not wired to handlers.
func notImplemented(name string) awsproto.Handler {
	return func(ctx context.Context, body []byte) (any, error) {
		return nil, awsproto.NewError("NotImplemented",
			"Millrace does not implement DynamoDB %s; see docs/dynamodb.md", name).WithStatus(http.StatusNotImplemented)
	}
}

// lockTables locks the named tables of the caller in a fixed order and
// returns the unlock function.
func (s *Service) lockTables(ctx context.Context, account, region string, names ...string) (func(), error) {
	keys := make([]string, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		k := account + "/" + region + "/" + n
		if !seen[k] {
			seen[k] = true
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var held []*sync.Mutex
	for _, k := range keys {
		s.mu.Lock()
		m := s.locks[k]
		if m == nil {
			m = &sync.Mutex{}
			s.locks[k] = m
		}
		s.mu.Unlock()
		m.Lock()
		held = append(held, m)
	}
	unlock := func() {
		for i := len(held) - 1; i >= 0; i-- {
			held[i].Unlock()
		}
	}
	if !s.clusterLocks {
		return unlock, nil
	}
	release, err := s.lockCluster(ctx, keys)
	if err != nil {
		unlock()
		return nil, err
	}
	return func() { release(); unlock() }, nil
}

func caller(ctx context.Context) (account, region string) {
	info := awsproto.Info(ctx)
	return info.AccountID, info.Region
}

// table loads a table of the caller or returns ResourceNotFoundException.
func (s *Service) table(ctx context.Context, name string) (*tableMeta, error) {
	account, region := caller(ctx)
	t, err := s.loadTable(ctx, account, region, tableName(name))
	if err != nil {
		return nil, err
	}
	if t == nil {
		return nil, tableNotFound()
	}
	return t, nil
}

func (s *Service) describeEndpoints(ctx context.Context, in *dynamodbapi.DescribeEndpointsRequest) (*dynamodbapi.DescribeEndpointsResponse, error) {
	info := awsproto.Info(ctx)
	host := "dynamodb." + info.Region + ".amazonaws.com"
	if info.HTTP != nil && info.HTTP.Host != "" {
		host = info.HTTP.Host
	}
	return &dynamodbapi.DescribeEndpointsResponse{Endpoints: []dynamodbapi.Endpoint{{Address: &host, CachePeriodInMinutes: awsproto.Ptr(int64(1440))}}}, nil
}
