package streams

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/millrace/millrace/internal/storage"
)

// Shard iterators and pagination tokens are self-contained: the state a
// later call needs is sealed into the string with AES-256-GCM under a server
// key kept in the catalog, so any node holding the catalog can serve any
// iterator, and a client can neither read nor forge one.

// keyringKey is the catalog key holding the server key.
const keyringKey = "meta/keyring"

// keyringVersion prefixes the stored key so that the format can change.
const keyringVersion = 1

// keyring seals and opens iterators and tokens.
type keyring struct {
	aead cipher.AEAD
}

// loadKeyring reads the server key from the catalog, creating it on first
// start. Two servers starting at once on one catalog agree on a single key:
// the create is a compare-and-set, and the loser reads the winner's key.
func loadKeyring(ctx context.Context, cat storage.Catalog) (*keyring, error) {
	for attempt := 0; attempt < 3; attempt++ {
		val, _, err := cat.Get(ctx, keyringKey)
		if err == nil {
			return newKeyring(val)
		}
		if !errors.Is(err, storage.ErrNotFound) {
			return nil, err
		}
		val = make([]byte, 1+32)
		val[0] = keyringVersion
		if _, err := rand.Read(val[1:]); err != nil {
			return nil, err
		}
		if _, err := cat.Put(ctx, keyringKey, val, 0); err == nil {
			return newKeyring(val)
		} else if !errors.Is(err, storage.ErrConflict) {
			return nil, err
		}
	}
	return nil, errors.New("streams: the server key kept changing while it was loaded")
}

func newKeyring(val []byte) (*keyring, error) {
	if len(val) != 1+32 || val[0] != keyringVersion {
		return nil, fmt.Errorf("streams: catalog entry %s is not a version %d key", keyringKey, keyringVersion)
	}
	block, err := aes.NewCipher(val[1:])
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &keyring{aead: aead}, nil
}

// Purposes keep a sealed value of one kind from being accepted as another
// (a ListShards NextToken is never a valid shard iterator).
const (
	purposeIterator   byte = 'I'
	purposeShardToken byte = 'S'
	purposeListToken  byte = 'L'
)

// sealedMagic starts every sealed value. AWS iterators start with the same
// eight bytes (base64 "AAAAAAAAAAE"), which some tools look for.
var sealedMagic = [8]byte{0, 0, 0, 0, 0, 0, 0, 1}

// sealedOverhead is the size a sealed value adds to its plaintext.
const sealedOverhead = len(sealedMagic) + 12 + 16 + 8 // magic, nonce, tag, created

// seal encrypts payload with its creation time (ms) for one purpose and
// returns it in standard base64.
func (k *keyring) seal(purpose byte, created int64, payload []byte) string {
	var nonce [12]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		// crypto/rand never fails on supported platforms (Go 1.24+ panics
		// internally instead); keep the zero nonce out regardless.
		panic("streams: crypto/rand failed: " + err.Error())
	}
	return k.sealNonce(purpose, created, payload, nonce)
}

// sealNonce is seal with a given nonce; seal draws a fresh one for every
// value.
func (k *keyring) sealNonce(purpose byte, created int64, payload []byte, nonce [12]byte) string {
	buf := make([]byte, len(sealedMagic), sealedOverhead+len(payload))
	copy(buf, sealedMagic[:])
	buf = append(buf, nonce[:]...)
	plain := make([]byte, 8, 8+len(payload))
	binary.BigEndian.PutUint64(plain, uint64(created))
	plain = append(plain, payload...)
	aad := [9]byte{}
	copy(aad[:], sealedMagic[:])
	aad[8] = purpose
	buf = k.aead.Seal(buf, nonce[:], plain, aad[:])
	return base64.StdEncoding.EncodeToString(buf)
}

// errSealed is returned by open for anything it did not seal.
var errSealed = errors.New("not a sealed value")

// decodeSealed decodes s only if it is spelled exactly as seal spells it:
// the standard alphabet, its padding, nothing else. AWS refuses an iterator
// with so much as a trailing newline, and so does this server, but Go's
// base64 decoders (Strict included) skip '\r' and '\n' anywhere in the
// input; a string that decodes to n bytes and is longer than the 4*ceil(n/3)
// characters those bytes encode to had such a byte skipped. Strict rejects
// non-zero padding bits, so together the two checks leave one accepted
// spelling per value: the one EncodeToString gives.
func decodeSealed(s string) ([]byte, bool) {
	if len(s)%4 != 0 {
		return nil, false
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(s)
	if err != nil || base64.StdEncoding.EncodedLen(len(raw)) != len(s) {
		return nil, false
	}
	return raw, true
}

// open reverses seal. Any change to the string, including one that leaves
// the bytes it decodes to the same (whitespace, the URL-safe alphabet,
// missing or extra padding), or a value sealed for another purpose or under
// another key, gives errSealed.
func (k *keyring) open(purpose byte, s string) (created int64, payload []byte, err error) {
	if len(s) > 4*((1<<20)/3) { // far above anything seal produces
		return 0, nil, errSealed
	}
	raw, ok := decodeSealed(s)
	if !ok || len(raw) < sealedOverhead || [8]byte(raw[:8]) != sealedMagic {
		return 0, nil, errSealed
	}
	nonce := raw[8:20]
	aad := [9]byte{}
	copy(aad[:], sealedMagic[:])
	aad[8] = purpose
	// Decrypt in place: raw is this call's own copy.
	plain, err := k.aead.Open(raw[20:20], nonce, raw[20:], aad[:])
	if err != nil || len(plain) < 8 {
		return 0, nil, errSealed
	}
	return int64(binary.BigEndian.Uint64(plain)), plain[8:], nil
}

// iterator is the state a shard iterator carries.
type iterator struct {
	Created  int64  // ms since the epoch
	StreamID uint64 // the stream incarnation; a recreated stream has another
	Shard    uint32
	Position uint64 // the next engine sequence number to read
	Account  string
	Region   string
	Name     string
}

// iteratorVersion is the first byte of an iterator's payload.
const iteratorVersion = 1

func (it *iterator) marshal() []byte {
	b := make([]byte, 0, 1+8+4+8+3+len(it.Account)+len(it.Region)+len(it.Name))
	b = append(b, iteratorVersion)
	b = binary.BigEndian.AppendUint64(b, it.StreamID)
	b = binary.BigEndian.AppendUint32(b, it.Shard)
	b = binary.BigEndian.AppendUint64(b, it.Position)
	for _, s := range [...]string{it.Account, it.Region, it.Name} {
		b = append(b, byte(len(s)))
		b = append(b, s...)
	}
	return b
}

func (it *iterator) unmarshal(b []byte) bool {
	if len(b) < 1+8+4+8 || b[0] != iteratorVersion {
		return false
	}
	it.StreamID = binary.BigEndian.Uint64(b[1:])
	it.Shard = binary.BigEndian.Uint32(b[9:])
	it.Position = binary.BigEndian.Uint64(b[13:])
	b = b[21:]
	var fields [3]string
	for i := range fields {
		if len(b) < 1 || len(b) < 1+int(b[0]) {
			return false
		}
		fields[i] = string(b[1 : 1+int(b[0])])
		b = b[1+int(b[0]):]
	}
	if len(b) != 0 || fields[2] == "" {
		return false
	}
	it.Account, it.Region, it.Name = fields[0], fields[1], fields[2]
	return true
}

// maxIteratorLen is the model's limit on ShardIterator.
const maxIteratorLen = 512

// encodeIterator seals it into the string clients see.
func (k *keyring) encodeIterator(it *iterator) string {
	return k.seal(purposeIterator, it.Created, it.marshal())
}

// decodeIterator opens an iterator and checks its age at now. A string this
// server did not issue gives InvalidArgumentException "Invalid
// ShardIterator."; one older than ttl gives ExpiredIteratorException in AWS's
// words.
func (k *keyring) decodeIterator(s string, now time.Time, ttl time.Duration) (*iterator, error) {
	if len(s) == 0 || len(s) > maxIteratorLen {
		return nil, errorf(KindInvalidArgument, "Invalid ShardIterator.")
	}
	created, payload, err := k.open(purposeIterator, s)
	it := &iterator{Created: created}
	if err != nil || !it.unmarshal(payload) {
		return nil, errorf(KindInvalidArgument, "Invalid ShardIterator.")
	}
	if age := now.UnixMilli() - created; age > ttl.Milliseconds() {
		return nil, errorf(KindExpiredIterator,
			"Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			amzTime(created), amzTime(now.UnixMilli()), ttl.Milliseconds())
	}
	return it, nil
}

// amzTime formats ms the way AWS's Java services print a date: "Thu Jan 22
// 01:22:02 UTC 2015".
func amzTime(ms int64) string {
	return time.UnixMilli(ms).UTC().Format("Mon Jan 02 15:04:05 MST 2006")
}

// tokenTTL is how long a pagination token stays valid. AWS documents 300
// seconds for ListShards and ListStreamConsumers.
const tokenTTL = 300 * time.Second

// sealToken seals a pagination token for one purpose.
func (k *keyring) sealToken(purpose byte, now time.Time, payload []byte) string {
	return k.seal(purpose, now.UnixMilli(), payload)
}

// openToken opens a pagination token: InvalidArgumentException if this
// server did not issue it for this purpose, ExpiredNextTokenException once it
// is older than 300 seconds.
func (k *keyring) openToken(purpose byte, s string, now time.Time) ([]byte, error) {
	created, payload, err := k.open(purpose, s)
	if err != nil {
		return nil, errorf(KindInvalidArgument, "Invalid NextToken.")
	}
	if now.UnixMilli()-created > tokenTTL.Milliseconds() {
		return nil, errorf(KindExpiredNextToken,
			"The NextToken has expired. It was created at time %s while right now it is %s; a NextToken is valid for %d seconds.",
			amzTime(created), amzTime(now.UnixMilli()), int(tokenTTL.Seconds()))
	}
	return payload, nil
}
