// Package kms is Millrace's local key service, the stand-in for AWS KMS
// behind stream encryption. It keeps customer master keys (each with one or
// more versions of key material, so that rotation never loses the ability to
// decrypt), aliases and their enabled state in a key file, and hands out
// data keys wrapped under a master key (envelope encryption with
// AES-256-GCM).
//
// The key file is JSON, written with mode 0600. When a master key is given
// (MILLRACE_KMS_MASTER_KEY: 32 bytes, base64), the whole key file is sealed
// under it, so that the file alone reveals nothing. A data directory
// remembers which keyring it belongs to (a small marker file holding the
// keyring id), so that a server started with a missing or different key
// file refuses to start instead of writing data nobody can read later.
package kms

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
)

// ManagedAlias is the alias of the key Kinesis manages for each account and
// region. It is created on first use.
const ManagedAlias = "alias/aws/kinesis"

// MarkerName is the file in the data directory that names the keyring the
// directory's encrypted data belongs to.
const MarkerName = "kms-keyring-id"

// fileFormat is the version of the key file layout.
const fileFormat = 1

// refreshInterval is how often a running server looks for changes that
// `millrace kms` made to the key file.
const refreshInterval = time.Second

// Error codes, as Kinesis reports KMS failures.
const (
	CodeNotFound = "KMSNotFoundException"
	CodeDisabled = "KMSDisabledException"
)

// Error is a key lookup or use that failed the way KMS fails: Code is one
// of the Code constants, Msg KMS's wording.
type Error struct{ Code, Msg string }

func (e *Error) Error() string { return e.Msg }

// IsCode reports whether err is a *Error with code.
func IsCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// Key is one customer master key.
type Key struct {
	ID          string `json:"id"` // a UUID
	Account     string `json:"account"`
	Region      string `json:"region"`
	Description string `json:"description,omitempty"`
	Enabled     bool   `json:"enabled"`
	// Managed marks the key behind alias/aws/kinesis.
	Managed   bool  `json:"managed,omitempty"`
	CreatedAt int64 `json:"createdAt"` // ms since the epoch
	// Versions is the key material, oldest first; new data keys are
	// wrapped under the last one.
	Versions []keyVersion `json:"versions"`
}

type keyVersion struct {
	Material  []byte `json:"material"` // 32 bytes
	CreatedAt int64  `json:"createdAt"`
}

// ARN returns the key's ARN.
func (k *Key) ARN() string { return KeyARN(k.Region, k.Account, k.ID) }

// KeyARN builds a key ARN.
func KeyARN(region, account, id string) string {
	return "arn:aws:kms:" + region + ":" + account + ":key/" + id
}

// AliasARN builds an alias ARN; name starts with "alias/".
func AliasARN(region, account, name string) string {
	return "arn:aws:kms:" + region + ":" + account + ":" + name
}

// Alias names a key within an account and region.
type Alias struct {
	Name    string `json:"name"` // "alias/..."
	Account string `json:"account"`
	Region  string `json:"region"`
	KeyID   string `json:"keyId"`
}

// state is what the key file holds.
type state struct {
	Format    int     `json:"format"`
	KeyringID string  `json:"keyringId"`
	Keys      []*Key  `json:"keys"`
	Aliases   []Alias `json:"aliases"`
}

// file is the key file's outer layout: the state itself, or with a master
// key, the state sealed into Sealed.
type file struct {
	Format    int     `json:"format"`
	KeyringID string  `json:"keyringId"`
	Sealed    []byte  `json:"sealed,omitempty"`
	Keys      []*Key  `json:"keys,omitempty"`
	Aliases   []Alias `json:"aliases,omitempty"`
}

// Options say where the keyring lives.
type Options struct {
	// Path is the key file. Ignored with InMemory.
	Path string
	// InMemory keeps the keyring in memory only.
	InMemory bool
	// MasterKey, when not empty, is the base64 of the 32-byte key that
	// seals the key file.
	MasterKey string
	// DataDir, when not empty, is the data directory whose marker file
	// ties it to this keyring.
	DataDir string
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Keyring is the key service. It is safe for concurrent use.
type Keyring struct {
	opts   Options
	master cipher.AEAD // nil without a master key

	mu    sync.RWMutex
	st    *state
	stamp fileStamp // of the key file last read or written
	next  time.Time // when to look at the key file again
}

// fileStamp identifies one content of the key file.
type fileStamp struct {
	mod  time.Time
	size int64
	info os.FileInfo
}

func (a fileStamp) same(b fileStamp) bool {
	if a.info == nil || b.info == nil {
		return a.info == b.info
	}
	return os.SameFile(a.info, b.info) && a.mod.Equal(b.mod) && a.size == b.size
}

// Open loads the keyring, creating it (and its key file) on first start.
// It fails, changing nothing, when the key file cannot be opened with the
// master key given, or when the data directory belongs to another keyring
// or its keyring's key file is missing.
func Open(opts Options) (*Keyring, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	k := &Keyring{opts: opts}
	if opts.MasterKey != "" {
		aead, err := masterAEAD(opts.MasterKey)
		if err != nil {
			return nil, err
		}
		k.master = aead
	}
	if opts.InMemory {
		k.st = &state{Format: fileFormat, KeyringID: uuid.NewString()}
		return k, nil
	}
	if opts.Path == "" {
		return nil, errors.New("kms: no key file given")
	}
	marker := ""
	if opts.DataDir != "" {
		b, err := os.ReadFile(filepath.Join(opts.DataDir, MarkerName))
		switch {
		case err == nil:
			marker = strings.TrimSpace(string(b))
		case !errors.Is(err, os.ErrNotExist):
			return nil, fmt.Errorf("kms: reading %s: %w", filepath.Join(opts.DataDir, MarkerName), err)
		}
	}
	st, stamp, err := k.read()
	switch {
	case errors.Is(err, os.ErrNotExist):
		if marker != "" {
			return nil, fmt.Errorf("kms: the KMS key file %s does not exist, but the data directory %s holds data of keyring %s; "+
				"restore that key file (or point --kms-key-file at it) to read the encrypted streams", opts.Path, opts.DataDir, marker)
		}
		st = &state{Format: fileFormat, KeyringID: uuid.NewString()}
		if err := k.write(st); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if marker != "" && marker != st.KeyringID {
			return nil, fmt.Errorf("kms: the KMS key file %s holds keyring %s, but the data directory %s belongs to keyring %s; "+
				"point --kms-key-file at the data directory's key file", opts.Path, st.KeyringID, opts.DataDir, marker)
		}
		k.stamp = stamp
	}
	k.st = st
	if opts.DataDir != "" && marker == "" {
		if err := os.MkdirAll(opts.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("kms: creating the data directory: %w", err)
		}
		if err := writeFileAtomic(filepath.Join(opts.DataDir, MarkerName), []byte(st.KeyringID+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("kms: writing the keyring marker: %w", err)
		}
	}
	k.next = opts.Now().Add(refreshInterval)
	return k, nil
}

// ID returns the keyring's id.
func (k *Keyring) ID() string {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st.KeyringID
}

// Path returns the key file ("" in memory).
func (k *Keyring) Path() string {
	if k.opts.InMemory {
		return ""
	}
	return k.opts.Path
}

func masterAEAD(b64 string) (cipher.AEAD, error) {
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
	if err != nil || len(raw) != 32 {
		return nil, errors.New("kms: the master key (MILLRACE_KMS_MASTER_KEY) must be 32 bytes in standard base64, e.g. the output of `openssl rand -base64 32`")
	}
	return newAEAD(raw)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// fileAAD binds a sealed key file to its format and keyring id.
func fileAAD(keyringID string) []byte { return []byte("millrace-kms-keyfile/1/" + keyringID) }

// read loads the key file.
func (k *Keyring) read() (*state, fileStamp, error) {
	f, err := os.Open(k.opts.Path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fileStamp{}, err
		}
		return nil, fileStamp{}, fmt.Errorf("kms: opening the KMS key file: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return nil, fileStamp{}, fmt.Errorf("kms: reading the KMS key file: %w", err)
	}
	stamp := fileStamp{mod: info.ModTime(), size: info.Size(), info: info}
	var fl file
	if err := json.NewDecoder(f).Decode(&fl); err != nil {
		return nil, stamp, fmt.Errorf("kms: the KMS key file %s is not a Millrace key file: %w", k.opts.Path, err)
	}
	if fl.Format != fileFormat {
		return nil, stamp, fmt.Errorf("kms: the KMS key file %s has format %d; this version reads format %d", k.opts.Path, fl.Format, fileFormat)
	}
	st := &state{Format: fl.Format, KeyringID: fl.KeyringID, Keys: fl.Keys, Aliases: fl.Aliases}
	switch {
	case fl.Sealed != nil && k.master == nil:
		return nil, stamp, fmt.Errorf("kms: the KMS key file %s is sealed with a master key; set MILLRACE_KMS_MASTER_KEY to it", k.opts.Path)
	case fl.Sealed == nil && k.master != nil:
		return nil, stamp, fmt.Errorf("kms: MILLRACE_KMS_MASTER_KEY is set but the KMS key file %s is not sealed with a master key; "+
			"unset the variable, or seal the file with `millrace kms seal`", k.opts.Path)
	case fl.Sealed != nil:
		ns := k.master.NonceSize()
		if len(fl.Sealed) < ns {
			return nil, stamp, fmt.Errorf("kms: the KMS key file %s is damaged", k.opts.Path)
		}
		plain, err := k.master.Open(nil, fl.Sealed[:ns], fl.Sealed[ns:], fileAAD(fl.KeyringID))
		if err != nil {
			return nil, stamp, fmt.Errorf("kms: MILLRACE_KMS_MASTER_KEY does not open the KMS key file %s (wrong master key, or the file was changed)", k.opts.Path)
		}
		st = new(state)
		if err := json.Unmarshal(plain, st); err != nil {
			return nil, stamp, fmt.Errorf("kms: the KMS key file %s is damaged: %w", k.opts.Path, err)
		}
		if st.KeyringID != fl.KeyringID {
			return nil, stamp, fmt.Errorf("kms: the KMS key file %s is damaged (keyring id mismatch)", k.opts.Path)
		}
	}
	for _, key := range st.Keys {
		for v := range key.Versions {
			if len(key.Versions[v].Material) != 32 {
				return nil, stamp, fmt.Errorf("kms: the KMS key file %s is damaged (key %s version %d)", k.opts.Path, key.ID, v+1)
			}
		}
	}
	return st, stamp, nil
}

// write stores st in the key file (atomically, mode 0600) and remembers its
// stamp.
func (k *Keyring) write(st *state) error {
	if k.opts.InMemory {
		return nil
	}
	fl := file{Format: fileFormat, KeyringID: st.KeyringID}
	if k.master != nil {
		plain, err := json.Marshal(st)
		if err != nil {
			return err
		}
		nonce := make([]byte, k.master.NonceSize())
		rand.Read(nonce)
		fl.Sealed = k.master.Seal(nonce, nonce, plain, fileAAD(st.KeyringID))
	} else {
		fl.Keys, fl.Aliases = st.Keys, st.Aliases
	}
	data, err := json.MarshalIndent(&fl, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(k.opts.Path), 0o700); err != nil {
		return fmt.Errorf("kms: creating the directory of the KMS key file: %w", err)
	}
	if err := writeFileAtomic(k.opts.Path, append(data, '\n'), 0o600); err != nil {
		return fmt.Errorf("kms: writing the KMS key file: %w", err)
	}
	if info, err := os.Stat(k.opts.Path); err == nil {
		k.stamp = fileStamp{mod: info.ModTime(), size: info.Size(), info: info}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file, syncs it and renames it
// over path.
func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	name := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(name)
		}
	}()
	if err := tmp.Chmod(mode); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(name, path); err != nil {
		return err
	}
	ok = true
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// refresh rereads the key file when another process (`millrace kms`)
// changed it; it looks at most once per refreshInterval.
func (k *Keyring) refresh() {
	if k.opts.InMemory {
		return
	}
	now := k.opts.Now()
	k.mu.RLock()
	due := !now.Before(k.next)
	k.mu.RUnlock()
	if !due {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Before(k.next) {
		return
	}
	k.next = now.Add(refreshInterval)
	info, err := os.Stat(k.opts.Path)
	if err != nil {
		return
	}
	if k.stamp.same(fileStamp{mod: info.ModTime(), size: info.Size(), info: info}) {
		return
	}
	k.reloadLocked()
}

// Reload rereads the key file now.
func (k *Keyring) Reload() error {
	if k.opts.InMemory {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.reloadLocked()
}

func (k *Keyring) reloadLocked() error {
	st, stamp, err := k.read()
	if err != nil {
		return err
	}
	if st.KeyringID != k.st.KeyringID {
		return fmt.Errorf("kms: the KMS key file %s now holds another keyring (%s, was %s); keeping the loaded one", k.opts.Path, st.KeyringID, k.st.KeyringID)
	}
	k.st, k.stamp = st, stamp
	return nil
}

// update applies fn to the current keyring under the key file lock and
// stores the result. Changes other processes made to the file are read
// first, so that nothing is lost.
func (k *Keyring) update(fn func(st *state) error) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	unlock := func() {}
	if !k.opts.InMemory {
		u, err := lockFile(k.opts.Path + ".lock")
		if err != nil {
			return fmt.Errorf("kms: locking the KMS key file: %w", err)
		}
		unlock = u
		if err := k.reloadLocked(); err != nil && !errors.Is(err, os.ErrNotExist) {
			unlock()
			return err
		}
	}
	defer unlock()
	// Work on a copy so that a failed write leaves the loaded state intact.
	data, err := json.Marshal(k.st)
	if err != nil {
		return err
	}
	st := new(state)
	if err := json.Unmarshal(data, st); err != nil {
		return err
	}
	if err := fn(st); err != nil {
		return err
	}
	if err := k.write(st); err != nil {
		return err
	}
	k.st = st
	return nil
}

// The patterns are compiled when first used: the alias pattern's
// repetition compiles to a program of about 240 KB, which a server that
// never names a key would keep from its start.
var uuidPattern = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
})

var aliasPattern = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]{1,250}$`) })

func newMaterial(now time.Time) keyVersion {
	m := make([]byte, 32)
	rand.Read(m)
	return keyVersion{Material: m, CreatedAt: now.UnixMilli()}
}

// CreateKey makes a new enabled key in an account and region.
func (k *Keyring) CreateKey(account, region, description string) (Key, error) {
	now := k.opts.Now()
	key := &Key{ID: uuid.NewString(), Account: account, Region: region, Description: description,
		Enabled: true, CreatedAt: now.UnixMilli(), Versions: []keyVersion{newMaterial(now)}}
	err := k.update(func(st *state) error {
		st.Keys = append(st.Keys, key)
		return nil
	})
	if err != nil {
		return Key{}, err
	}
	return *key, nil
}

// Keys lists the keys (all accounts when account is ""), oldest first.
// Key material is left out.
func (k *Keyring) Keys(account, region string) []Key {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []Key
	for _, key := range k.st.Keys {
		if (account == "" || key.Account == account) && (region == "" || key.Region == region) {
			c := *key
			c.Versions = make([]keyVersion, len(key.Versions))
			for i, v := range key.Versions {
				c.Versions[i] = keyVersion{CreatedAt: v.CreatedAt}
			}
			out = append(out, c)
		}
	}
	return out
}

// Aliases lists the aliases (all accounts when account is "").
func (k *Keyring) Aliases(account, region string) []Alias {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	var out []Alias
	for _, a := range k.st.Aliases {
		if (account == "" || a.Account == account) && (region == "" || a.Region == region) {
			out = append(out, a)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// CreateAlias points a new alias at a key. Names under alias/aws/ are
// reserved, as on AWS.
func (k *Keyring) CreateAlias(account, region, name, keyRef string) error {
	if !aliasPattern().MatchString(name) {
		return fmt.Errorf("kms: alias name %q must start with alias/ and use only letters, digits, /, _ and -", name)
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return fmt.Errorf("kms: alias names starting with alias/aws/ are reserved")
	}
	return k.update(func(st *state) error {
		key, err := st.find(account, region, keyRef)
		if err != nil {
			return err
		}
		for _, a := range st.Aliases {
			if a.Account == account && a.Region == region && a.Name == name {
				return fmt.Errorf("kms: alias %s already exists", AliasARN(region, account, name))
			}
		}
		st.Aliases = append(st.Aliases, Alias{Name: name, Account: account, Region: region, KeyID: key.ID})
		return nil
	})
}

// SetEnabled enables or disables a key. A disabled key neither encrypts
// nor decrypts.
func (k *Keyring) SetEnabled(account, region, keyRef string, enabled bool) (Key, error) {
	var out Key
	err := k.update(func(st *state) error {
		key, err := st.find(account, region, keyRef)
		if err != nil {
			return err
		}
		key.Enabled = enabled
		out = *key
		return nil
	})
	return out, err
}

// Rotate adds a new version of key material to a key: new data keys are
// wrapped under it, and the old versions keep unwrapping the data keys
// they wrapped.
func (k *Keyring) Rotate(account, region, keyRef string) (Key, error) {
	var out Key
	err := k.update(func(st *state) error {
		key, err := st.find(account, region, keyRef)
		if err != nil {
			return err
		}
		key.Versions = append(key.Versions, newMaterial(k.opts.Now()))
		out = *key
		return nil
	})
	return out, err
}

// Resolve finds the key a KeyId names for a caller in account and region:
// a key id, a key ARN, an alias name or an alias ARN; alias/aws/kinesis is
// created on first use. The key must exist and be enabled.
func (k *Keyring) Resolve(account, region, keyRef string) (Key, error) {
	k.refresh()
	k.mu.RLock()
	key, err := k.st.find(account, region, keyRef)
	var c Key
	if err == nil {
		c = *key
	}
	k.mu.RUnlock()
	if err != nil && IsCode(err, CodeNotFound) && isManagedRef(account, region, keyRef) {
		err = k.update(func(st *state) error {
			if key, err := st.find(account, region, keyRef); err == nil {
				c = *key
				return nil
			}
			now := k.opts.Now()
			key := &Key{ID: uuid.NewString(), Account: account, Region: region, Managed: true,
				Description: "Default key that protects my Kinesis data when no other key is defined",
				Enabled:     true, CreatedAt: now.UnixMilli(), Versions: []keyVersion{newMaterial(now)}}
			st.Keys = append(st.Keys, key)
			st.Aliases = append(st.Aliases, Alias{Name: ManagedAlias, Account: account, Region: region, KeyID: key.ID})
			c = *key
			return nil
		})
	}
	if err != nil {
		return Key{}, err
	}
	if !c.Enabled {
		return Key{}, disabled(&c)
	}
	c.Versions = nil
	return c, nil
}

func isManagedRef(account, region, ref string) bool {
	return ref == ManagedAlias || ref == AliasARN(region, account, ManagedAlias)
}

func disabled(key *Key) *Error {
	return &Error{Code: CodeDisabled, Msg: key.ARN() + " is disabled."}
}

// find resolves a key reference within account and region (an ARN names
// its own account and region).
func (st *state) find(account, region, ref string) (*Key, error) {
	id := ref
	if rest, ok := strings.CutPrefix(ref, "arn:"); ok {
		parts := strings.SplitN(rest, ":", 5)
		if len(parts) != 5 || !strings.HasPrefix(parts[0], "aws") || parts[1] != "kms" {
			return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Invalid arn %s", ref)}
		}
		region, account = parts[2], parts[3]
		id = parts[4]
		if strings.HasPrefix(id, "alias/") {
			return st.findAlias(account, region, id)
		}
		id, ok = strings.CutPrefix(id, "key/")
		if !ok {
			return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Invalid arn %s", ref)}
		}
	} else if strings.HasPrefix(ref, "alias/") {
		return st.findAlias(account, region, ref)
	}
	if !uuidPattern().MatchString(id) {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Invalid keyId '%s'", ref)}
	}
	for _, key := range st.Keys {
		if key.ID == id && key.Account == account && key.Region == region {
			return key, nil
		}
	}
	return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Key '%s' does not exist", KeyARN(region, account, id))}
}

func (st *state) findAlias(account, region, name string) (*Key, error) {
	for _, a := range st.Aliases {
		if a.Name == name && a.Account == account && a.Region == region {
			for _, key := range st.Keys {
				if key.ID == a.KeyID {
					return key, nil
				}
			}
		}
	}
	return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Alias %s is not found.", AliasARN(region, account, name))}
}

// byID returns the key with id, whatever its account.
func (st *state) byID(id string) *Key {
	for _, key := range st.Keys {
		if key.ID == id {
			return key
		}
	}
	return nil
}

// Has reports whether the keyring holds the key with id.
func (k *Keyring) Has(id string) bool {
	k.mu.RLock()
	defer k.mu.RUnlock()
	return k.st.byID(id) != nil
}

// Check reports whether key id can be used: nil, or a KMSNotFoundException
// or KMSDisabledException error.
func (k *Keyring) Check(id string) error {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	key := k.st.byID(id)
	if key == nil {
		return &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Key '%s' does not exist", id)}
	}
	if !key.Enabled {
		return disabled(key)
	}
	return nil
}

// dataKeyAAD binds a wrapped data key to its master key and version.
func dataKeyAAD(id string, version int) []byte {
	b := make([]byte, 0, 48)
	b = append(b, "millrace-kms-datakey/1/"...)
	b = append(b, id...)
	return binary.BigEndian.AppendUint32(b, uint32(version))
}

// versionAEAD returns the cipher of one key version. The caller holds mu
// (read or write).
func (k *Keyring) versionAEAD(key *Key, version int) (cipher.AEAD, error) {
	if version < 1 || version > len(key.Versions) {
		return nil, fmt.Errorf("kms: key %s has no version %d", key.ARN(), version)
	}
	return newAEAD(key.Versions[version-1].Material)
}

// GenerateDataKey returns a new 32-byte data key, the same key wrapped
// under the latest version of master key id, and that version.
func (k *Keyring) GenerateDataKey(id string) (plain, wrapped []byte, version int, err error) {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	key := k.st.byID(id)
	if key == nil {
		return nil, nil, 0, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Key '%s' does not exist", id)}
	}
	if !key.Enabled {
		return nil, nil, 0, disabled(key)
	}
	version = len(key.Versions)
	aead, err := k.versionAEAD(key, version)
	if err != nil {
		return nil, nil, 0, err
	}
	plain = make([]byte, 32)
	rand.Read(plain)
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	wrapped = aead.Seal(nonce, nonce, plain, dataKeyAAD(id, version))
	return plain, wrapped, version, nil
}

// Decrypt unwraps a data key wrapped under version of master key id. The
// key must be enabled.
func (k *Keyring) Decrypt(id string, version int, wrapped []byte) ([]byte, error) {
	k.refresh()
	k.mu.RLock()
	defer k.mu.RUnlock()
	key := k.st.byID(id)
	if key == nil {
		return nil, &Error{Code: CodeNotFound, Msg: fmt.Sprintf("Key '%s' does not exist", id)}
	}
	if !key.Enabled {
		return nil, disabled(key)
	}
	aead, err := k.versionAEAD(key, version)
	if err != nil {
		return nil, err
	}
	ns := aead.NonceSize()
	if len(wrapped) < ns {
		return nil, errors.New("kms: wrapped data key too short")
	}
	plain, err := aead.Open(nil, wrapped[:ns], wrapped[ns:], dataKeyAAD(id, version))
	if err != nil {
		return nil, fmt.Errorf("kms: data key does not authenticate under %s version %d", key.ARN(), version)
	}
	return plain, nil
}

// Seal protects an unsealed key file with a master key (base64 of 32
// bytes): from then on the server needs MILLRACE_KMS_MASTER_KEY to start.
func (k *Keyring) Seal(masterKey string) error {
	if k.master != nil {
		return errors.New("kms: the KMS key file is already sealed with a master key")
	}
	aead, err := masterAEAD(masterKey)
	if err != nil {
		return err
	}
	err = k.update(func(st *state) error {
		k.master = aead
		return nil
	})
	if err != nil {
		k.master = nil
	}
	return err
}
