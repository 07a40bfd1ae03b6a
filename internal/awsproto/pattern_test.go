package awsproto

import (
	"math/rand/v2"
	"testing"
)

// patternCases are model patterns, those with a table and some without.
var patternCases = []string{
	`.*`, `[a-zA-Z0-9_.-]+`, `arn:.*`, `[\x20-\x7E]+`, `[a-zA-Z0-9-_]+`,
	`[\x{0001}-\x{FFFF}]*`, `[a-zA-Z0-9-\/*:_+=.@-]*`, `[^\s]+`, `[^-\s<>&]*`,
	`[0-9]+`, `\S+`, `[A-Za-z0-9+/]+={0,2}`, `0|([1-9]\d{0,128})`, `(?s).*`,
	`(?i)[a-f]+`, `[a-z]+[0-9]*`, `(?:[a-z])+`, `([a-z]+)`, `x+`,
}

func TestClassPatternTables(t *testing.T) {
	for p, want := range map[string]bool{
		`.*`: true, `[a-zA-Z0-9_.-]+`: true, `[\x20-\x7E]+`: true, `[^\s]+`: true,
		`arn:.*`: false, `0|([1-9]\d{0,128})`: false, `[a-z]+[0-9]*`: false,
	} {
		if got := parseClassPattern(`^(?:`+p+`)$`) != nil; got != want {
			t.Errorf("%s: table %v, want %v", p, got, want)
		}
	}
}

// TestMatchPatternAgreesWithRegexp checks the tables against the regular
// expressions on random and chosen values.
func TestMatchPatternAgreesWithRegexp(t *testing.T) {
	values := []string{"", "a", "A-b_c.d", "a b", "a\nb", "\n", "\x00", "\x7f", "é", "a\xffb", "x\u00e9", "<&>", "-", "abc123", "ABC"}
	rng := rand.New(rand.NewPCG(3, 4))
	for range 3000 {
		b := make([]byte, rng.IntN(6))
		for i := range b {
			if rng.IntN(8) == 0 {
				b[i] = byte(rng.IntN(256))
			} else {
				b[i] = byte(rng.IntN(128))
			}
		}
		values = append(values, string(b))
	}
	for _, p := range patternCases {
		re := NewPattern(p)
		for _, v := range values {
			if got, want := re.MatchString(v), re.Regexp().MatchString(v); got != want {
				t.Fatalf("pattern %s, value %q: table says %v, regexp %v", p, v, got, want)
			}
		}
	}
}

func FuzzMatchPattern(f *testing.F) {
	for _, v := range []string{"", "stream-1", "a b", "é", "\n"} {
		f.Add(v)
	}
	res := make([]*Pattern, len(patternCases))
	for i, p := range patternCases {
		res[i] = NewPattern(p)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for _, re := range res {
			if got, want := re.MatchString(v), re.Regexp().MatchString(v); got != want {
				t.Fatalf("pattern %s, value %q: table says %v, regexp %v", re, v, got, want)
			}
		}
	})
}

func BenchmarkMatchPattern(b *testing.B) {
	re := NewPattern(`[a-zA-Z0-9_.-]+`)
	b.Run("regexp", func(b *testing.B) {
		for b.Loop() {
			re.Regexp().MatchString("millrace-bench-1796620814043867105")
		}
	})
	b.Run("table", func(b *testing.B) {
		for b.Loop() {
			re.MatchString("millrace-bench-1796620814043867105")
		}
	})
}
