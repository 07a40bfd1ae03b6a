package cli

import (
	"bufio"
	"bytes"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

// FuzzReadLine holds put's line reader to a plain split on "\n" (a final
// "\r" dropped, no empty line after a final "\n"), whatever the reader's
// buffer size.
func FuzzReadLine(f *testing.F) {
	for _, s := range []string{"", "a", "a\n", "a\r\nb", "\n\n", "\r\n", "x\ry\n", strings.Repeat("z", 40) + "\nq"} {
		f.Add([]byte(s), uint8(0))
	}
	f.Fuzz(func(t *testing.T, in []byte, size uint8) {
		var want [][]byte
		if len(in) > 0 {
			want = bytes.Split(bytes.TrimSuffix(in, []byte("\n")), []byte("\n"))
			for i := range want {
				want[i] = bytes.TrimSuffix(want[i], []byte("\r"))
			}
		}
		r := bufio.NewReaderSize(bytes.NewReader(in), 16+int(size))
		var got [][]byte
		for {
			l, err := readLine(r)
			if err != nil {
				break
			}
			got = append(got, l)
		}
		if len(got) != len(want) {
			t.Fatalf("%q: %d lines, want %d", in, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("%q: line %d %q, want %q", in, i, got[i], want[i])
			}
		}
	})
}

// FuzzTailText checks that tail's text fields stay on one line and come
// back unchanged when unquoted, and that jsonKey never panics.
func FuzzTailText(f *testing.F) {
	for _, s := range []string{"", "plain", "two\nlines", `"quoted"`, "base64:abc", "tab\there", `{"k":"v"}`, `{"k":12}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, enc := range []string{textData(s), textField(s)} {
			if strings.ContainsFunc(enc, unicode.IsControl) {
				t.Fatalf("%q encoded as %q: control characters", s, enc)
			}
			if enc != s {
				if u, err := strconv.Unquote(enc); err != nil || u != s {
					t.Fatalf("%q encoded as %q, which unquotes to %q, %v", s, enc, u, err)
				}
			}
		}
		jsonKey([]byte(s), "k")
	})
}
