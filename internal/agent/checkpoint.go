package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// checkpointFile is the agent's state on disk: per flow, per tracked file,
// the offset up to which every record is acknowledged by the stream.
type checkpointFile struct {
	Version int `json:"version"`
	// Clean is true when the agent stopped with every record read
	// acknowledged; otherwise the next start reads the stream back.
	Clean bool                       `json:"clean"`
	Flows map[string]*flowCheckpoint `json:"flows"`
}

type flowCheckpoint struct {
	// Since is no later than the put time of every record not yet
	// acknowledged when the checkpoint was written.
	Since time.Time `json:"since"`
	// ShardStart holds, per shard, a sequence number after which every
	// record not acknowledged lies; a shard missing or mapped to "" is
	// read from Since.
	ShardStart map[string]string `json:"shardStart,omitempty"`
	Files      []*fileCheckpoint `json:"files"`
}

type fileCheckpoint struct {
	Path string `json:"path"`
	Dev  uint64 `json:"dev"`
	Ino  uint64 `json:"ino"`
	// OriginDev and OriginIno are the identity the file had when first
	// tracked (a copy made by copytruncate continues its original).
	OriginDev uint64 `json:"originDev"`
	OriginIno uint64 `json:"originIno"`
	// FingerprintLen bytes at the start of the file hash to Fingerprint.
	FingerprintLen int       `json:"fingerprintLen"`
	Fingerprint    string    `json:"fingerprint"`
	Offset         int64     `json:"offset"`
	LastUpdated    time.Time `json:"lastUpdated"`
}

func readCheckpoint(path string) (*checkpointFile, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var c checkpointFile
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("checkpoint file %s: %w", path, err)
	}
	if c.Version != 1 {
		return nil, fmt.Errorf("checkpoint file %s: unknown version %d", path, c.Version)
	}
	return &c, nil
}

// writeCheckpoint replaces the file atomically: a temporary file in the
// same directory, fsync, rename, fsync of the directory.
func writeCheckpoint(path string, c *checkpointFile) error {
	c.Version = 1
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
