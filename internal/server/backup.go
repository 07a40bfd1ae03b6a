package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/millrace/millrace/internal/backup"
	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/kms"
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
// on, and 501 for an engine that cannot export.
func withBackup(api http.Handler, cfg config.Config, eng engine, logger *slog.Logger) http.Handler {
	password := cfg.BackupPassword
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
			http.Error(w, "this server's storage engine cannot be backed up through millrace", http.StatusNotImplemented)
			return
		}
		start := time.Now()
		logger.Info("backup started", "remote", r.RemoteAddr)
		m := backup.Manifest{Engine: "pebble", Millrace: buildVersion()}
		if cfg.Clustered() {
			m.Engine = "jetstream"
		}
		var err error
		var keyFile func() ([]byte, error)
		if !cfg.InMemory {
			if m.KMSKeyringID, err = KeyringMarker(cfg.DataDir); err != nil {
				logger.Error("backup failed", "remote", r.RemoteAddr, "err", err)
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
			keyFile = func() ([]byte, error) { return ReadKeyFile(KMSKeyFile(cfg)) }
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		w.Header().Set("Cache-Control", "no-store")
		c, err := backup.Write(r.Context(), exp, w, m, keyFile, nil)
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
		return fmt.Sprintf("millrace %s %s", info.Main.Version, info.GoVersion)
	}
	return ""
}

// KeyringMarker returns the id of the KMS keyring a data directory's
// encrypted data belongs to, "" when it has no marker.
func KeyringMarker(dataDir string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dataDir, kms.MarkerName))
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// ReadKeyFile returns a KMS key file's bytes, nil when it does not exist.
func ReadKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}

// PlaceKeyring puts a restored KMS key file (when the backup has one) and
// keyring marker into a new data directory, where a server started on it
// looks for them by default.
func PlaceKeyring(dataDir, keyringID string, keyFile []byte) error {
	if keyFile != nil {
		if err := os.WriteFile(filepath.Join(dataDir, DefaultKMSKeyFile), keyFile, 0o600); err != nil {
			return err
		}
	}
	if keyringID != "" {
		return os.WriteFile(filepath.Join(dataDir, kms.MarkerName), []byte(keyringID+"\n"), 0o600)
	}
	return nil
}
