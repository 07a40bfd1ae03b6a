package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/millrace/millrace/internal/firehose/s3/s3test"
	"github.com/millrace/millrace/internal/firehose/sink"
)

// memParts is a PartUploader in memory; failPart, when not 0, is a part
// number whose upload fails.
type memParts struct {
	mu       sync.Mutex
	objects  map[string][]byte
	puts     int
	uploads  map[string]map[int32][]byte
	aborted  []string
	failPart int32
}

func newMemParts() *memParts {
	return &memParts{objects: map[string][]byte{}, uploads: map[string]map[int32][]byte{}}
}

func (m *memParts) Put(_ context.Context, bucket, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.puts++
	m.objects[bucket+"/"+key] = bytes.Clone(body)
	return nil
}

func (m *memParts) CreateMultipart(_ context.Context, bucket, key string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	id := fmt.Sprintf("%s/%s#%d", bucket, key, len(m.uploads))
	m.uploads[id] = map[int32][]byte{}
	return id, nil
}

func (m *memParts) UploadPart(_ context.Context, _, _, id string, n int32, body []byte) (string, error) {
	if n == m.failPart {
		return "", errors.New("the part was refused")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.uploads[id][n] = bytes.Clone(body)
	return fmt.Sprintf("etag-%d", n), nil
}

func (m *memParts) CompleteMultipart(_ context.Context, bucket, key, id string, etags []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	parts := m.uploads[id]
	if len(etags) != len(parts) {
		return fmt.Errorf("%d ETags for %d parts", len(etags), len(parts))
	}
	var body []byte
	for i, e := range etags {
		p, ok := parts[int32(i+1)]
		if !ok || e != fmt.Sprintf("etag-%d", i+1) {
			return fmt.Errorf("part %d: ETag %q", i+1, e)
		}
		if i < len(etags)-1 && len(p) < 5<<20 {
			return fmt.Errorf("part %d of %d bytes, under S3's 5 MiB", i+1, len(p))
		}
		body = append(body, p...)
	}
	m.objects[bucket+"/"+key] = body
	delete(m.uploads, id)
	return nil
}

func (m *memParts) AbortMultipart(_ context.Context, _, _, id string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.aborted = append(m.aborted, id)
	delete(m.uploads, id)
	return nil
}

// randomRecords returns records of n bytes in all that gzip cannot shrink.
func randomRecords(n int) ([]sink.Record, []byte) {
	src := rand.NewChaCha8([32]byte{1})
	r := rand.New(src)
	body := make([]byte, n)
	_, _ = src.Read(body)
	var recs []sink.Record
	for rest := body; len(rest) > 0; {
		k := min(1000+r.IntN(1000), len(rest))
		recs = append(recs, sink.Record{Data: rest[:k]})
		rest = rest[k:]
	}
	return recs, body
}

func gunzipAll(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDeliverMultipart(t *testing.T) {
	at := time.Date(2024, 1, 31, 20, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		size      int
		multipart bool
	}{{1 << 20, false}, {partSize - 100<<10, false}, {21 << 20, true}} {
		m := newMemParts()
		d := New(Config{Bucket: "b", Compression: GZIP}, m)
		recs, body := randomRecords(c.size)
		res, err := d.Deliver(t.Context(), &sink.Batch{ID: "id", Stream: "s", Version: 1, Records: recs, FirstArrival: at})
		if err != nil {
			t.Fatal(err)
		}
		key := strings.TrimPrefix(res.Location, "s3://")
		obj, ok := m.objects[key]
		if !ok || len(m.objects) != 1 {
			t.Fatalf("%d bytes: objects %d, none at %s", c.size, len(m.objects), key)
		}
		if got := gunzipAll(t, obj); !bytes.Equal(got, body) {
			t.Fatalf("%d bytes: the object holds %d other bytes", c.size, len(got))
		}
		if multipart := m.puts == 0; multipart != c.multipart {
			t.Errorf("%d bytes: multipart %v, want %v", c.size, multipart, c.multipart)
		}
		if len(m.uploads) != 0 || len(m.aborted) != 0 {
			t.Errorf("%d bytes: uploads left %d, aborted %d", c.size, len(m.uploads), len(m.aborted))
		}
	}
}

func TestDeliverMultipartPartFails(t *testing.T) {
	m := newMemParts()
	m.failPart = 2
	d := New(Config{Bucket: "b", Compression: Uncompressed}, m)
	recs, _ := randomRecords(3*partSize + 1)
	_, err := d.Deliver(t.Context(), &sink.Batch{ID: "id", Stream: "s", Version: 1, Records: recs, FirstArrival: time.Now()})
	if err == nil || !strings.Contains(err.Error(), "part 2: the part was refused") {
		t.Fatalf("err %v, want part 2's failure", err)
	}
	if len(m.objects) != 0 || len(m.aborted) != 1 || len(m.uploads) != 0 {
		t.Fatalf("objects %d, aborted %d, uploads left %d: want the upload aborted and no object", len(m.objects), len(m.aborted), len(m.uploads))
	}
}

// TestClientPutterMultipart writes an object of three parts to the S3
// server with the SDK and reads it back.
func TestClientPutterMultipart(t *testing.T) {
	srv := s3test.Start(t)
	bucket := srv.Bucket(t, "multipart")
	d := New(Config{Bucket: bucket, Compression: Uncompressed}, ClientPutter{Client: srv.Client})
	recs, body := randomRecords(2*partSize + 3<<20)
	res, err := d.Deliver(t.Context(), &sink.Batch{ID: "id", Stream: "s", Version: 1, Records: recs, FirstArrival: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	got, err := srv.Get(t.Context(), bucket, strings.TrimPrefix(res.Location, "s3://"+bucket+"/"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, body) {
		t.Fatalf("read back %d bytes, not the %d written", len(got), len(body))
	}
}
