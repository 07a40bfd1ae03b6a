package s3

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// PartUploader is a Putter that can also write an object in parts, as S3's
// multipart upload does. The destination writes an object larger than one
// part that way, so that its first parts upload while the rest is still
// being compressed, instead of compressing the whole buffer and then
// sending it.
type PartUploader interface {
	Putter
	// CreateMultipart starts a multipart upload and returns its id.
	CreateMultipart(ctx context.Context, bucket, key string) (string, error)
	// UploadPart uploads part number n (from 1) and returns its ETag.
	UploadPart(ctx context.Context, bucket, key, uploadID string, n int32, body []byte) (string, error)
	// CompleteMultipart makes the object of the parts' ETags, in order.
	CompleteMultipart(ctx context.Context, bucket, key, uploadID string, etags []string) error
	// AbortMultipart drops an upload and its parts.
	AbortMultipart(ctx context.Context, bucket, key, uploadID string) error
}

// partSize is the size from which an object goes as a multipart upload,
// and of its parts but the last (S3's least is 5 MiB); partsInFlight
// parts upload at once. A 64 MiB buffer of JSON records that gzip shrinks
// three times is three parts, the first uploading while the second is
// compressed; objects under 8 MiB go with one PutObject as before.
const (
	partSize      = 8 << 20
	partsInFlight = 2
)

// abortTimeout bounds the AbortMultipart of an upload that failed.
const abortTimeout = 30 * time.Second

// objectWriter takes an object's body as it is produced and writes it:
// with one Put when it is under partSize or the Putter cannot upload
// parts, else as a multipart upload whose parts upload, partsInFlight at a
// time, while the next ones are written. The object exists only once
// Close returned nil (S3 makes a multipart object when it is completed),
// so a failed or interrupted write leaves no partial object under the key.
type objectWriter struct {
	ctx         context.Context
	cancel      context.CancelFunc
	put         Putter
	up          PartUploader // nil: the Putter has no multipart upload
	bucket, key string

	buf      []byte
	uploadID string
	slots    chan struct{}
	wg       sync.WaitGroup

	mu    sync.Mutex
	etags []string
	err   error // the first part's failure
}

func newObjectWriter(ctx context.Context, put Putter, bucket, key string) *objectWriter {
	ctx, cancel := context.WithCancel(ctx)
	w := &objectWriter{ctx: ctx, cancel: cancel, put: put, bucket: bucket, key: key}
	if up, ok := put.(PartUploader); ok {
		w.up = up
		w.slots = make(chan struct{}, partsInFlight)
	}
	return w
}

func (w *objectWriter) failed() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func (w *objectWriter) fail(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// Write buffers p; a full part starts uploading.
func (w *objectWriter) Write(p []byte) (int, error) {
	if err := w.failed(); err != nil {
		return 0, err
	}
	if w.buf == nil {
		w.buf = make([]byte, 0, min(max(len(p), 64<<10), partSize+64<<10))
	}
	w.buf = append(w.buf, p...)
	if w.up != nil && len(w.buf) >= partSize {
		if err := w.startPart(); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// startPart uploads the buffer as the next part, in the background once a
// slot is free.
func (w *objectWriter) startPart() error {
	if w.uploadID == "" {
		id, err := w.up.CreateMultipart(w.ctx, w.bucket, w.key)
		if err != nil {
			w.fail(err)
			return err
		}
		w.uploadID = id
	}
	body := w.buf
	w.buf = make([]byte, 0, partSize+64<<10)
	w.mu.Lock()
	w.etags = append(w.etags, "")
	n := len(w.etags)
	w.mu.Unlock()
	select {
	case w.slots <- struct{}{}:
	case <-w.ctx.Done():
		err := w.failed()
		if err == nil {
			err = w.ctx.Err()
		}
		return err
	}
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		defer func() { <-w.slots }()
		etag, err := w.up.UploadPart(w.ctx, w.bucket, w.key, w.uploadID, int32(n), body)
		if err != nil {
			w.fail(fmt.Errorf("part %d: %w", n, err))
			return
		}
		w.mu.Lock()
		w.etags[n-1] = etag
		w.mu.Unlock()
	}()
	return nil
}

// Close writes what is left and makes the object.
func (w *objectWriter) Close() error {
	defer w.cancel()
	if w.uploadID == "" {
		if err := w.failed(); err != nil {
			return err
		}
		return w.put.Put(w.ctx, w.bucket, w.key, w.buf)
	}
	var err error
	if len(w.buf) > 0 {
		err = w.startPart()
	}
	w.wg.Wait()
	if err == nil {
		err = w.failed()
	}
	if err == nil {
		err = w.up.CompleteMultipart(w.ctx, w.bucket, w.key, w.uploadID, w.etags)
	}
	if err != nil {
		w.abort()
	}
	return err
}

// Abort gives the object up after the body could not be produced.
func (w *objectWriter) Abort() {
	w.cancel()
	w.wg.Wait()
	if w.uploadID != "" {
		w.abort()
	}
}

// abort drops the multipart upload; it runs even when the delivery's
// context is done, so that the parts do not stay in the bucket.
func (w *objectWriter) abort() {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), abortTimeout)
	defer cancel()
	// An upload that cannot be aborted stays incomplete: S3 keeps its
	// parts until a lifecycle rule drops them; no object was made.
	_ = w.up.AbortMultipart(ctx, w.bucket, w.key, w.uploadID)
}
