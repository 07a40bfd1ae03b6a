package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/millrace/millrace/internal/backup"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/server"
	"github.com/millrace/millrace/internal/storage/pebble"
)

const backupHelp = `Usage:
  millrace backup --out FILE [--url URL] [--password PW]
  millrace backup --out FILE --data-dir DIR

Writes a backup of a server to FILE: every catalog entry
(streams, shards with their hash ranges and parents, consumers, DynamoDB
tables such as KCL lease tables and their checkpoints, Lambda functions
and mappings, Firehose and analytics definitions) and every shard's
records with their sequence numbers and arrival timestamps. From a
single-node server the copy is of one instant, across every shard and the
catalog, taken while the server goes on serving; from a cluster node
(the whole cluster's data) each shard is copied as of one instant, the
catalog first (docs/running.md, "Backup and restore").

Two ways to reach the data:
  --url URL        a running server's base URL (default: http://ADDRESS
                   from the listen setting read as serve reads it); the
                   server must have backup-password set, and this command
                   sends it (HTTP basic authentication: use TLS or a
                   trusted network)
  --data-dir DIR   the data directory of a stopped single-node server,
                   opened directly (refused while a server holds it)

The backup also holds the KMS key file behind encrypted streams (as the
data directory does, sealed when kms-master-key is set): keep backups as
safe as the data directory. FILE is written as FILE.partial and renamed
once complete and checked; progress (records and bytes) goes to stderr.
millrace restore makes a data directory of it.

Flags:
  --out FILE       where to write the backup (required)
  --password PW    the server's backup-password (default: the
                   backup-password setting, e.g. MILLRACE_BACKUP_PASSWORD)
  --kms-key-file F with --data-dir: the KMS key file the server used, when
                   kms-key-file put it outside the data directory
  --quiet          no progress lines
`

const restoreHelp = `Usage:
  millrace restore --from FILE --data-dir DIR
  millrace restore --from FILE --check

Restores a backup written by millrace backup into DIR, the data directory
of a single-node server, which must not exist or be empty. A server
started on DIR serves the same streams, shards (ids, hash ranges, parent
links), records at the same sequence numbers with the same arrival
timestamps, consumers, DynamoDB tables and checkpoints, Lambda, Firehose
and analytics definitions. The KMS key file (for encrypted streams) is
written to DIR/kms-keys.json, where the server looks by default.

The whole file is read and checked first (every frame's CRC-32C, its
structure and counts); a damaged or truncated file, or one written in a
newer format version, is refused before anything is written. If the
restore fails midway, what it wrote to DIR is removed.

Flags:
  --from FILE      the backup to restore (required)
  --data-dir DIR   the data directory to create
  --check          only check FILE and print what it holds
  --quiet          no progress lines

A backup of a cluster restores into a single-node data directory too, with
the cluster's sequence numbers. Restoring into a cluster is not supported:
a cluster's JetStream streams are restored with NATS's own tools
(docs/cluster.md).
`

// progressPrinter prints a progress line at most once a second.
func progressPrinter(w io.Writer, verb string, quiet bool) func(backup.Progress) {
	if quiet {
		return nil
	}
	var last time.Time
	return func(p backup.Progress) {
		if time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		fmt.Fprintf(w, "%s: %d shards, %d records (%s of records), %s of file\n", verb, p.Shards, p.Records, mib(int64(p.RecordBytes)), mib(p.FileBytes))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func summary(c backup.Counts) string {
	return fmt.Sprintf("%d catalog entries, %d shards, %d records (%s)", c.CatalogEntries, c.Shards, c.Records, mib(int64(c.RecordBytes)))
}

// runBackup runs "millrace backup".
func runBackup(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) error {
	fs := flag.NewFlagSet("millrace backup", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	out := fs.String("out", "", "")
	url := fs.String("url", "", "")
	password := fs.String("password", "", "")
	dataDir := fs.String("data-dir", "", "")
	kmsKeyFile := fs.String("kms-key-file", "", "")
	quiet := fs.Bool("quiet", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, backupHelp)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("backup: unexpected argument %q", fs.Arg(0))}
	}
	if *out == "" {
		return usageError{errors.New("backup: --out FILE is required")}
	}
	if *kmsKeyFile != "" && *dataDir == "" {
		return usageError{errors.New("backup: --kms-key-file goes with --data-dir (a running server sends the key file it uses)")}
	}
	if *dataDir != "" && (*url != "" || *password != "") {
		return usageError{errors.New("backup: --data-dir reads a stopped server's directory; --url and --password are for a running server, not both")}
	}
	partial := *out + ".partial"
	f, err := os.OpenFile(partial, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	progress := progressPrinter(stderr, "backup", *quiet)
	var c backup.Counts
	if *dataDir != "" {
		c, err = backupDir(ctx, *dataDir, *kmsKeyFile, f, progress)
	} else {
		c, err = backupURL(ctx, *url, *password, f, progress, lookupEnv)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(partial, *out)
	}
	if err != nil {
		os.Remove(partial)
		var ue usageError
		if errors.As(err, &ue) {
			return err
		}
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Fprintf(stdout, "backup written to %s: %s\n", *out, summary(c))
	return nil
}

// backupDir exports a stopped server's data directory.
func backupDir(ctx context.Context, dir, keyFile string, w io.Writer, progress func(backup.Progress)) (backup.Counts, error) {
	// Pebble would create a missing directory before finding no database
	// in it.
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return backup.Counts{}, usageError{fmt.Errorf("backup: --data-dir %s is not a directory (%v)", dir, err)}
	}
	e, err := pebble.Open(pebble.Options{Dir: dir, MustExist: true})
	if err != nil {
		if errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EACCES) || strings.Contains(err.Error(), "lock held") {
			return backup.Counts{}, fmt.Errorf("data directory %s is in use by a running server: back it up with --url (and backup-password), or stop it first: %w", dir, err)
		}
		return backup.Counts{}, fmt.Errorf("data directory %s holds no single-node database (back a cluster node up with --url): %w", dir, err)
	}
	m := backup.Manifest{Engine: "pebble", Millrace: versionString()}
	if m.KMSKeyringID, err = server.KeyringMarker(dir); err != nil {
		return backup.Counts{}, errors.Join(err, e.Close())
	}
	if keyFile == "" {
		keyFile = filepath.Join(dir, server.DefaultKMSKeyFile)
	}
	c, err := backup.Write(ctx, e, w, m, func() ([]byte, error) { return server.ReadKeyFile(keyFile) }, progress)
	return c, errors.Join(err, e.Close())
}

// backupURL asks a running server for a backup and checks it as it arrives.
func backupURL(ctx context.Context, url, password string, w io.Writer, progress func(backup.Progress), lookupEnv func(string) (string, bool)) (backup.Counts, error) {
	if password == "" {
		password, _ = lookupEnv("MILLRACE_BACKUP_PASSWORD")
	}
	if url == "" || password == "" {
		cfg, err := config.AddFlags(flag.NewFlagSet("millrace backup", flag.ContinueOnError)).Load(lookupEnv)
		if err != nil {
			return backup.Counts{}, usageError{fmt.Errorf("backup: reading the settings (or pass --url and --password): %w", err)}
		}
		if password == "" {
			password = cfg.BackupPassword
		}
		if url == "" {
			if url, err = listenURL("backup", cfg.Listen); err != nil {
				return backup.Counts{}, err
			}
		}
	}
	if password == "" {
		return backup.Counts{}, usageError{errors.New("backup: no --password (nor backup-password setting) for the running server's backup endpoint; or back up a stopped server with --data-dir")}
	}
	endpoint := strings.TrimRight(url, "/") + server.BackupPath
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, nil)
	if err != nil {
		return backup.Counts{}, usageError{fmt.Errorf("backup: --url %q: %w", url, err)}
	}
	req.SetBasicAuth(server.BackupUser, password)
	client := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return backup.Counts{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return backup.Counts{}, fmt.Errorf("POST %s answered %s: %s", endpoint, resp.Status, strings.TrimSpace(string(msg)))
	}
	_, c, err := backup.Verify(ctx, io.TeeReader(resp.Body, w), progress)
	if err != nil {
		return c, fmt.Errorf("the backup sent by %s is incomplete or damaged (see the server's log): %w", url, err)
	}
	return c, nil
}

// runRestore runs "millrace restore".
func runRestore(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("millrace restore", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	from := fs.String("from", "", "")
	dataDir := fs.String("data-dir", "", "")
	check := fs.Bool("check", false, "")
	quiet := fs.Bool("quiet", false, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, restoreHelp)
			return nil
		}
		return usageError{err}
	}
	if fs.NArg() > 0 {
		return usageError{fmt.Errorf("restore: unexpected argument %q", fs.Arg(0))}
	}
	if *from == "" {
		return usageError{errors.New("restore: --from FILE is required")}
	}
	if *dataDir == "" && !*check {
		return usageError{errors.New("restore: --data-dir DIR is required (restore writes a single-node data directory; a cluster is restored with NATS's tools), or --check to only check the file")}
	}
	if *dataDir != "" && *check {
		return usageError{errors.New("restore: --check only checks the file; drop --data-dir")}
	}
	if *dataDir != "" {
		if err := emptyDir(*dataDir); err != nil {
			return err
		}
	}
	f, err := os.Open(*from)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	m, c, err := backup.Verify(ctx, f, progressPrinter(stderr, "checking", *quiet))
	if err != nil {
		return fmt.Errorf("restore: %s: %w", *from, err)
	}
	fmt.Fprintf(stdout, "%s: format %d, written %s by %s from %s: %s\n", *from, m.Format, m.Created.Format(time.RFC3339), m.Millrace, m.Engine, summary(c))
	if *check {
		return nil
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	if err := restoreDir(ctx, f, *dataDir, progressPrinter(stderr, "restore", *quiet)); err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Fprintf(stdout, "restored into %s\n", *dataDir)
	return nil
}

// emptyDir refuses a data directory that exists and holds anything.
func emptyDir(dir string) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("restore: --data-dir %s: %w", dir, err)
	}
	if len(ents) > 0 {
		return usageError{fmt.Errorf("restore: --data-dir %s is not empty (it holds %s): restore only into a new or empty directory", dir, ents[0].Name())}
	}
	return nil
}

// restoreDir writes the backup into a new database in dir; on failure it
// removes what it wrote.
func restoreDir(ctx context.Context, r io.Reader, dir string, progress func(backup.Progress)) (err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			ents, _ := os.ReadDir(dir)
			for _, e := range ents {
				os.RemoveAll(filepath.Join(dir, e.Name()))
			}
		}
	}()
	e, err := pebble.Open(pebble.Options{Dir: dir})
	if err != nil {
		return err
	}
	res, err := backup.Restore(ctx, r, e, progress)
	if err = errors.Join(err, e.Close()); err != nil {
		return err
	}
	return server.PlaceKeyring(dir, res.Manifest.KMSKeyringID, res.KeyFile)
}
