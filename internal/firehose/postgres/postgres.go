package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/millrace/millrace/internal/firehose/sink"
)

// Config is the part of RedshiftDestinationConfiguration that reaches the
// database; the engine handles RetryOptions, S3BackupMode and the
// processing configuration.
type Config struct {
	// ClusterJDBCURL names the database: jdbc:redshift://host:port/db or
	// jdbc:postgresql://host:port/db (or a postgres:// URL). Its sslmode
	// parameter is kept; ssl=true means sslmode=require.
	ClusterJDBCURL string
	CopyCommand    CopyCommand
	Username       string
	Password       string
	// MaxConns bounds the connections to the database (default 2: one
	// COPY runs at a time per delivery stream, as in Firehose).
	MaxConns int32
}

// CopyCommand is the COPY Firehose runs for each batch.
type CopyCommand struct {
	// DataTableName is the table, optionally schema-qualified; unquoted
	// names fold to lower case as in Redshift.
	DataTableName string
	// DataTableColumns is a comma-separated column list; empty means
	// every column of the table in order.
	DataTableColumns string
	// CopyOptions are Redshift COPY options, e.g. "json 'auto'",
	// "csv ignoreheader 1", "delimiter '\t'".
	CopyOptions string
}

// ErrInvalidConfig is wrapped by every error New returns for a
// configuration that cannot load (InvalidArgumentException).
var ErrInvalidConfig = errors.New("invalid Redshift destination configuration")

// Destination loads batches into a PostgreSQL table with COPY FROM STDIN.
type Destination struct {
	pool    *pgxpool.Pool
	table   pgx.Identifier
	columns []string // named in DataTableColumns, folded; nil for all
	opts    *copyOptions
}

var _ sink.Destination = (*Destination)(nil)

// New checks the configuration and prepares a connection pool; it does
// not connect until the first batch.
func New(cfg Config) (*Destination, error) {
	connString, err := connString(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: ClusterJDBCURL: %v", ErrInvalidConfig, err)
	}
	pc, err := pgxpool.ParseConfig(connString)
	if err != nil {
		return nil, fmt.Errorf("%w: ClusterJDBCURL: %v", ErrInvalidConfig, err)
	}
	pc.MaxConns = cfg.MaxConns
	if pc.MaxConns <= 0 {
		pc.MaxConns = 2
	}
	d := &Destination{}
	if d.table, err = parseQualifiedName(cfg.CopyCommand.DataTableName); err != nil {
		return nil, fmt.Errorf("%w: CopyCommand.DataTableName: %v", ErrInvalidConfig, err)
	}
	if strings.TrimSpace(cfg.CopyCommand.DataTableColumns) != "" {
		for _, c := range splitTopLevel(cfg.CopyCommand.DataTableColumns, ',') {
			name, err := parseIdentifier(strings.TrimSpace(c))
			if err != nil {
				return nil, fmt.Errorf("%w: CopyCommand.DataTableColumns: %v", ErrInvalidConfig, err)
			}
			d.columns = append(d.columns, name)
		}
	}
	if d.opts, err = parseCopyOptions(cfg.CopyCommand.CopyOptions); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	if d.opts.format == formatCSV && d.opts.quote != '"' {
		return nil, fmt.Errorf("%w: CopyOptions QUOTE: only '\"' is supported", ErrInvalidConfig)
	}
	if d.pool, err = pgxpool.NewWithConfig(context.Background(), pc); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidConfig, err)
	}
	return d, nil
}

// connString turns the JDBC URL into a libpq URL with the credentials.
func connString(cfg Config) (string, error) {
	raw := strings.TrimPrefix(strings.TrimSpace(cfg.ClusterJDBCURL), "jdbc:")
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	switch u.Scheme {
	case "redshift", "postgresql", "postgres":
	default:
		return "", fmt.Errorf("scheme %q is not jdbc:redshift, jdbc:postgresql or postgres", u.Scheme)
	}
	if u.Host == "" {
		return "", errors.New("no host")
	}
	q := url.Values{}
	in := u.Query()
	if v := in.Get("sslmode"); v != "" {
		q.Set("sslmode", v)
	} else if in.Get("ssl") == "true" {
		q.Set("sslmode", "require")
	}
	for _, k := range []string{"connect_timeout", "application_name"} {
		if v := in.Get(k); v != "" {
			q.Set(k, v)
		}
	}
	out := url.URL{Scheme: "postgres", Host: u.Host, Path: u.Path, RawQuery: q.Encode()}
	user, pass := cfg.Username, cfg.Password
	if user == "" && u.User != nil {
		user = u.User.Username()
		pass, _ = u.User.Password()
	}
	if user != "" {
		out.User = url.UserPassword(user, pass)
	}
	return out.String(), nil
}

// Deliver loads the batch with one COPY. Records the input format cannot
// read are skipped and returned as Rejected if there are at most MAXERROR
// of them (default 0, as in Redshift); more fail the batch.
func (d *Destination) Deliver(ctx context.Context, b *sink.Batch) (sink.Result, error) {
	table := d.table.Sanitize()
	if len(b.Records) == 0 {
		return sink.Result{Location: table + ": 0 rows"}, nil
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return sink.Result{}, fmt.Errorf("postgres: connecting: %w", err)
	}
	defer conn.Release()
	cols, err := d.tableColumns(ctx, conn.Conn())
	if err != nil {
		return sink.Result{}, err
	}
	body, rows, bad := newConverter(d.opts, cols).convert(b.Records)
	if len(bad) > d.opts.maxError {
		return sink.Result{}, fmt.Errorf("postgres: %d records of %d cannot be read (MAXERROR %d); first: record %d: %s",
			len(bad), len(b.Records), d.opts.maxError, bad[0].Index, bad[0].Message)
	}
	res := sink.Result{Rejected: bad}
	if rows == 0 {
		res.Location = table + ": 0 rows"
		return res, nil
	}
	names := make([]string, len(cols))
	for i, c := range cols {
		names[i] = pgx.Identifier{c.name}.Sanitize()
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT csv)", table, strings.Join(names, ", "))
	tag, err := conn.Conn().PgConn().CopyFrom(ctx, bytes.NewReader(body), sql)
	if err != nil {
		return sink.Result{}, fmt.Errorf("postgres: COPY into %s: %w", table, err)
	}
	res.Location = fmt.Sprintf("%s: %d rows", table, tag.RowsAffected())
	return res, nil
}

// tableColumns reads the table's columns (all, or those DataTableColumns
// names) and which hold characters.
func (d *Destination) tableColumns(ctx context.Context, conn *pgx.Conn) ([]column, error) {
	rows, err := conn.Query(ctx, `SELECT a.attname, t.typcategory = 'S'
		FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped
		ORDER BY a.attnum`, d.table.Sanitize())
	if err != nil {
		return nil, fmt.Errorf("postgres: reading the columns of %s: %w", d.table.Sanitize(), err)
	}
	var all []column
	for rows.Next() {
		var c column
		if err := rows.Scan(&c.name, &c.text); err != nil {
			return nil, err
		}
		all = append(all, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: reading the columns of %s: %w", d.table.Sanitize(), err)
	}
	if d.columns == nil {
		return all, nil
	}
	out := make([]column, 0, len(d.columns))
	for _, name := range d.columns {
		found := false
		for _, c := range all {
			if c.name == name {
				out = append(out, c)
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("postgres: column %q of DataTableColumns is not in %s", name, d.table.Sanitize())
		}
	}
	return out, nil
}

// Close closes the connections.
func (d *Destination) Close() error {
	d.pool.Close()
	return nil
}

// parseQualifiedName reads [schema.]table.
func parseQualifiedName(s string) (pgx.Identifier, error) {
	parts := splitTopLevel(strings.TrimSpace(s), '.')
	if len(parts) == 0 || len(parts) > 2 {
		return nil, fmt.Errorf("%q is not [schema.]table", s)
	}
	var id pgx.Identifier
	for _, p := range parts {
		name, err := parseIdentifier(p)
		if err != nil {
			return nil, err
		}
		id = append(id, name)
	}
	return id, nil
}

// parseIdentifier reads one SQL identifier: "Quoted" as written, bare
// folded to lower case.
func parseIdentifier(s string) (string, error) {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		inner := strings.ReplaceAll(s[1:len(s)-1], `""`, `"`)
		if inner == "" || strings.ContainsRune(inner, 0) {
			return "", fmt.Errorf("%s is not a valid identifier", s)
		}
		return inner, nil
	}
	if s == "" {
		return "", errors.New("empty identifier")
	}
	for i, c := range s {
		if c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c > 127 || i > 0 && (c >= '0' && c <= '9' || c == '$') {
			continue
		}
		return "", fmt.Errorf("%q is not a valid identifier (quote it with double quotes)", s)
	}
	return strings.ToLower(s), nil
}

// splitTopLevel splits on sep outside double quotes.
func splitTopLevel(s string, sep byte) []string {
	var out []string
	start, quoted := 0, false
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '"':
			quoted = !quoted
		case s[i] == sep && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
