package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/millrace/millrace/internal/backup"
	"github.com/millrace/millrace/internal/storage"
)

// BackupPath is the running server's backup endpoint: a POST with the
// backup-password (HTTP basic authentication, any user name) answers with a
// backup file (package backup) of everything the server holds.
const BackupPath = "/millrace/backup"

// BackupUser is the user name millrace backup sends; the endpoint checks
// only the password.
const BackupUser = "backup"

// withBackup serves BackupPath in front of api. The endpoint answers 404
// when backup-password is empty, so that it does not exist unless turned
// on, and 501 for an engine that cannot export (a cluster: JetStream has
// its own backups).
func withBackup(api http.Handler, password string, eng engine, logger *slog.Logger) http.Handler {
	want := sha256.Sum256([]byte(password))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != BackupPath || r.Method != http.MethodPost {
			api.ServeHTTP(w, r)
			return
		}
		if password == "" {
			http.Error(w, "the backup endpoint is off: set backup-password (MILLRACE_BACKUP_PASSWORD) on the server", http.StatusNotFound)
			return
		}
		_, got, ok := r.BasicAuth()
		gotSum := sha256.Sum256([]byte(got))
		if !ok || subtle.ConstantTimeCompare(gotSum[:], want[:]) != 1 {
			logger.Warn("backup refused: wrong or missing backup-password", "remote", r.RemoteAddr)
			w.Header().Set("WWW-Authenticate", `Basic realm="millrace backup"`)
			http.Error(w, "wrong or missing backup-password", http.StatusUnauthorized)
			return
		}
		exp, ok := eng.(storage.Exporter)
		if !ok {
			http.Error(w, "this server's storage cannot be backed up through millrace: back up a cluster's JetStream streams with NATS's own tools (docs/cluster.md)", http.StatusNotImplemented)
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		start := time.Now()
		logger.Info("backup started", "remote", r.RemoteAddr)
		c, err := backup.Write(r.Context(), exp, w, "pebble", buildVersion(), nil)
		if err != nil {
			// The status is sent: the client sees a file with no end
			// frame and refuses it.
			logger.Error("backup failed", "remote", r.RemoteAddr, "err", err)
			return
		}
		logger.Info("backup done", "remote", r.RemoteAddr, "catalog_entries", c.CatalogEntries, "shards", c.Shards,
			"records", c.Records, "record_bytes", c.RecordBytes, "took", time.Since(start).Round(time.Millisecond))
	})
}

// buildVersion is the module version the binary was built from, for the
// backup's manifest.
func buildVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		return fmt.Sprintf("%s (%s)", info.Main.Version, info.GoVersion)
	}
	return ""
}
