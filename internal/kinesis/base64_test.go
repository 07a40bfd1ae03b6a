package kinesis

import (
	"bytes"
	"encoding/base64"
	"math/rand/v2"
	"testing"
)

func TestAppendBase64MatchesEncoding(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for n := range 200 {
		for _, size := range []int{n, n * 37} {
			src := make([]byte, size)
			for i := range src {
				src[i] = byte(rng.Uint32())
			}
			for _, prefix := range [][]byte{nil, []byte(`{"Data":"`), make([]byte, 3, 5000)} {
				want := base64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
				if got := appendBase64(bytes.Clone(prefix), src); !bytes.Equal(got, want) {
					t.Fatalf("%d bytes after a prefix of %d:\n got %s\nwant %s", size, len(prefix), got, want)
				}
			}
		}
	}
	all := make([]byte, 256*3)
	for i := range all {
		all[i] = byte(i)
	}
	if got, want := appendBase64(nil, all), base64.StdEncoding.AppendEncode(nil, all); !bytes.Equal(got, want) {
		t.Fatalf("every byte value: got %s, want %s", got, want)
	}
}

func BenchmarkAppendBase64(b *testing.B) {
	src := make([]byte, 1024)
	for i := range src {
		src[i] = byte(i * 7)
	}
	dst := make([]byte, 0, 2048)
	b.SetBytes(int64(len(src)))
	b.Run("std", func(b *testing.B) {
		for b.Loop() {
			dst = base64.StdEncoding.AppendEncode(dst[:0], src)
		}
	})
	b.Run("pairs", func(b *testing.B) {
		for b.Loop() {
			dst = appendBase64(dst[:0], src)
		}
	})
}
