package kinesis

import (
	"bytes"
	stdbase64 "encoding/base64"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/segmentio/asm/base64"
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
				want := stdbase64.StdEncoding.AppendEncode(bytes.Clone(prefix), src)
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
	if got, want := appendBase64(nil, all), stdbase64.StdEncoding.AppendEncode(nil, all); !bytes.Equal(got, want) {
		t.Fatalf("every byte value: got %s, want %s", got, want)
	}
}

// stdDecode is the reference decodeBase64 is held to.
func stdDecode(src []byte) ([]byte, bool) {
	dst := make([]byte, stdbase64.StdEncoding.DecodedLen(len(src)))
	n, err := stdbase64.StdEncoding.Strict().Decode(dst, src)
	return dst[:n], err == nil
}

// checkDecodeLoose holds segmentio/asm's StdEncoding.Decode without
// Strict (which the bench client reads responses with) to encoding/base64's.
func checkDecodeLoose(t *testing.T, src []byte) {
	t.Helper()
	want := make([]byte, stdbase64.StdEncoding.DecodedLen(len(src)))
	wn, werr := stdbase64.StdEncoding.Decode(want, src)
	got := make([]byte, base64.StdEncoding.DecodedLen(len(src)))
	n, err := base64.StdEncoding.Decode(got, src)
	if (err == nil) != (werr == nil) || err == nil && !bytes.Equal(got[:n], want[:wn]) {
		t.Fatalf("%q without Strict: got %x %v, encoding/base64 %x %v", src, got[:n], err, want[:wn], werr)
	}
}

// checkDecode holds decodeBase64 to encoding/base64 on src: both accept
// it with the same bytes or both refuse it. The destination is exactly
// decodedRoom and sits between guard bytes that must stay untouched.
func checkDecode(t *testing.T, src []byte) {
	t.Helper()
	checkDecodeLoose(t, src)
	want, wantOK := stdDecode(src)
	room := decodedRoom(len(src))
	buf := bytes.Repeat([]byte{0xA5}, room+64)
	n, ok := decodeBase64(buf[32:32+room:32+room], src)
	if ok != wantOK || ok && !bytes.Equal(buf[32:32+n], want) {
		t.Fatalf("%q: got %x ok=%v, encoding/base64 %x ok=%v", src, buf[32:32+n], ok, want, wantOK)
	}
	for i, c := range append(buf[:32:32], buf[32+room:]...) {
		if c != 0xA5 {
			t.Fatalf("%q: a byte outside the destination changed (guard %d)", src, i)
		}
	}
}

// The cases where base64 decoders differ, each before and after a run of
// valid text long enough for the vector code (which takes 32 characters
// at a time and stops at a block with anything else in it).
func TestBase64EdgeCases(t *testing.T) {
	long := stdbase64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 12)) // 256 characters
	cases := []string{
		"", "=", "==", "====", "A", "AA", "AAA", "AAAA",
		"QQ==", "QUI=", "QUJD", // padding of each length
		"QR==", "QUJ=", "QUK=", // non-zero trailing bits: Strict refuses
		"QQ=", "QQ", "QUI", "Q===", "QQ==QQ==", "QQ==AAAA", "QUI==", // bad or misplaced padding
		"QUJD\nRA==", "QUJD\r\nRA==", "\nQUJD", "QUJD\n", "QU\nJD", "QQ=\n=", "QQ==\n", // newlines are skipped
		"QUJD\tRA==", "QUJD RA==", "QUJD-_==", "QUJD\x00RA==", "QUJD\xffRA==", // characters outside the alphabet
		"+/+/", "-_-_", // the standard alphabet, not the URL one
	}
	for _, c := range cases {
		for _, src := range []string{c, long + c, c + long, long[:32] + c + long[:60], long[:100] + c} {
			checkDecode(t, []byte(src))
		}
	}
	// A bad character in every position of a long text, and a newline.
	for i := range len(long) {
		for _, c := range []byte{'=', '\n', '\r', '.', 0x80} {
			b := []byte(long)
			b[i] = c
			checkDecode(t, b)
			checkDecode(t, append(b[:i+1:i+1], long[i:]...))
		}
	}
	// Every length, and every bit pattern in the last group.
	for n := range 200 {
		src := []byte(stdbase64.StdEncoding.EncodeToString(bytes.Repeat([]byte{0xFF}, n)))
		checkDecode(t, src)
		if n%3 != 0 {
			for _, c := range stdAlphabetChars {
				src[len(src)-1-(3-n%3)] = byte(c) // the last data character, trailing bits and all
				checkDecode(t, src)
			}
		}
	}
}

const stdAlphabetChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"

// FuzzBase64 holds the base64 decoding and encoding of records' data to
// encoding/base64: the same bytes accepted with the same result, the same
// refused, and the same characters out; decoding both with Strict, as the
// server reads requests, and without, as the bench client reads responses.
func FuzzBase64(f *testing.F) {
	f.Add([]byte("QUJD"), 0)
	f.Add([]byte("QR=="), 3)
	f.Add([]byte("QUJD\r\nRA=="), 0)
	f.Add([]byte(strings.Repeat("QUJD", 20)+"QQ=="), 40)
	f.Add(bytes.Repeat([]byte{0xFF, 0, 0x7F}, 60), 77)
	f.Fuzz(func(t *testing.T, b []byte, at int) {
		checkDecode(t, b)
		// The text with a valid run before it, so that the vector code
		// takes some of it and encoding/base64 the rest.
		if at < 0 {
			at = -at
		}
		valid := stdbase64.StdEncoding.AppendEncode(nil, b)
		k := at % (len(valid) + 1) / 4 * 4
		checkDecode(t, append(valid[:k:k], b...))
		if got, want := appendBase64([]byte("x"), b), stdbase64.StdEncoding.AppendEncode([]byte("x"), b); !bytes.Equal(got, want) {
			t.Fatalf("%x: got %s, want %s", b, got, want)
		}
	})
}

func BenchmarkBase64(b *testing.B) {
	for _, size := range []int{100, 1024} {
		src := make([]byte, size)
		for i := range src {
			src[i] = byte(i * 7)
		}
		text := stdbase64.StdEncoding.AppendEncode(nil, src)
		dst := make([]byte, 0, 2*size)
		b.Run(fmt.Sprintf("encode/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				dst = appendBase64(dst[:0], src)
			}
		})
		b.Run(fmt.Sprintf("decode/%d", size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if n, ok := decodeBase64(dst[:cap(dst)], text); !ok || n != size {
					b.Fatal(n, ok)
				}
			}
		})
	}
}
