package server

import (
	"fmt"
	"path/filepath"

	"github.com/millrace/millrace/internal/config"
	"github.com/millrace/millrace/internal/kms"
)

// DefaultKMSKeyFile is the key file's name in the data directory when
// kms-key-file is not set.
const DefaultKMSKeyFile = "kms-keys.json"

// KMSKeyFile returns the key file cfg uses ("" in memory).
func KMSKeyFile(cfg config.Config) string {
	switch {
	case cfg.InMemory:
		return ""
	case cfg.KMSKeyFile != "":
		return cfg.KMSKeyFile
	default:
		return filepath.Join(cfg.DataDir, DefaultKMSKeyFile)
	}
}

// openKeyring opens the key service behind stream encryption before the
// storage engine is opened, so that a wrong or missing key file stops the
// start without touching the data.
func openKeyring(cfg config.Config) (*kms.Keyring, error) {
	opts := kms.Options{InMemory: cfg.InMemory, MasterKey: cfg.KMSMasterKey}
	if !cfg.InMemory {
		opts.Path, opts.DataDir = KMSKeyFile(cfg), cfg.DataDir
	}
	kr, err := kms.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("opening the KMS keyring: %w", err)
	}
	return kr, nil
}
