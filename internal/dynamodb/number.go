package dynamodb

import (
	"errors"
	"math/big"
	"strings"
)

// number is a DynamoDB number: an exact decimal coef × 10^exp with at most
// 38 significant digits and a magnitude between 1E-130 and
// 9.9999999999999999999999999999999999999E+125. The coefficient carries no
// trailing zeros, so equal numbers have equal representations.
type number struct {
	coef *big.Int // zero or without trailing decimal zeros
	exp  int
}

const maxNumberDigits = 38

var (
	errNumberPrecision = errors.New("Attempting to store more than 38 significant digits in a Number")
	errNumberOverflow  = errors.New("Number overflow. Attempting to store a number with magnitude larger than supported range")
	errNumberUnderflow = errors.New("Number underflow. Attempting to store a number with magnitude smaller than supported range")
	errNumberSyntax    = errors.New("The parameter cannot be converted to a numeric value")
)

var bigTen = big.NewInt(10)

// parseNumber reads a number as DynamoDB accepts it: optional sign, digits
// with an optional fraction, optional exponent.
func parseNumber(s string) (number, error) {
	t := strings.TrimSpace(s)
	if t == "" {
		return number{}, errNumberSyntax
	}
	neg := false
	if t[0] == '+' || t[0] == '-' {
		neg = t[0] == '-'
		t = t[1:]
	}
	mant, expPart := t, ""
	if i := strings.IndexAny(t, "eE"); i >= 0 {
		mant, expPart = t[:i], t[i+1:]
	}
	intPart, frac, hasDot := strings.Cut(mant, ".")
	if intPart == "" && frac == "" || !allDigits(intPart) || !allDigits(frac) || hasDot && strings.Contains(frac, ".") {
		return number{}, errNumberSyntax
	}
	exp := 0
	if expPart != "" || strings.ContainsAny(t, "eE") {
		es := expPart
		eneg := false
		if es != "" && (es[0] == '+' || es[0] == '-') {
			eneg = es[0] == '-'
			es = es[1:]
		}
		if es == "" || !allDigits(es) || len(es) > 6 {
			return number{}, errNumberSyntax
		}
		for _, c := range es {
			exp = exp*10 + int(c-'0')
		}
		if eneg {
			exp = -exp
		}
	}
	digits := strings.TrimLeft(intPart+frac, "0")
	exp -= len(frac)
	coef := new(big.Int)
	if digits != "" {
		coef.SetString(digits, 10)
	}
	if neg {
		coef.Neg(coef)
	}
	return normalize(coef, exp)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// normalize strips trailing zeros and checks precision and range.
func normalize(coef *big.Int, exp int) (number, error) {
	if coef.Sign() == 0 {
		return number{coef: new(big.Int), exp: 0}, nil
	}
	c := new(big.Int).Set(coef)
	q, r := new(big.Int), new(big.Int)
	for {
		q.QuoRem(c, bigTen, r)
		if r.Sign() != 0 {
			break
		}
		c.Set(q)
		exp++
	}
	n := number{coef: c, exp: exp}
	d := n.digits()
	if d > maxNumberDigits {
		return number{}, errNumberPrecision
	}
	// Magnitude: the leading digit's power of ten.
	lead := exp + d - 1
	if lead > 125 {
		return number{}, errNumberOverflow
	}
	if lead < -130 {
		return number{}, errNumberUnderflow
	}
	return n, nil
}

func (n number) digits() int {
	s := n.coef.String()
	return len(strings.TrimPrefix(s, "-"))
}

func (n number) sign() int { return n.coef.Sign() }

// String renders the number as DynamoDB returns it: plain decimal notation
// without superfluous zeros.
func (n number) String() string {
	if n.coef.Sign() == 0 {
		return "0"
	}
	s := n.coef.String()
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	switch {
	case n.exp >= 0:
		s += strings.Repeat("0", n.exp)
	case -n.exp < len(s):
		s = s[:len(s)+n.exp] + "." + s[len(s)+n.exp:]
	default:
		s = "0." + strings.Repeat("0", -n.exp-len(s)) + s
	}
	if neg {
		s = "-" + s
	}
	return s
}

// align returns both coefficients scaled to the smaller exponent.
func align(a, b number) (*big.Int, *big.Int, int) {
	e := min(a.exp, b.exp)
	ca := new(big.Int).Mul(a.coef, new(big.Int).Exp(bigTen, big.NewInt(int64(a.exp-e)), nil))
	cb := new(big.Int).Mul(b.coef, new(big.Int).Exp(bigTen, big.NewInt(int64(b.exp-e)), nil))
	return ca, cb, e
}

func (n number) cmp(o number) int {
	if n.sign() != o.sign() || n.sign() == 0 {
		return cmpInt(n.sign(), o.sign())
	}
	ca, cb, _ := align(n, o)
	return ca.Cmp(cb)
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (n number) add(o number) (number, error) {
	ca, cb, e := align(n, o)
	return normalize(ca.Add(ca, cb), e)
}

func (n number) sub(o number) (number, error) {
	ca, cb, e := align(n, o)
	return normalize(ca.Sub(ca, cb), e)
}

// sortKey encodes the number so that byte order is numeric order: a sign
// class, the decimal exponent of the leading digit, then the digits
// (complemented for negative numbers, with a terminator above every digit).
// The result holds only [0-9~].
func (n number) sortKey() string {
	if n.sign() == 0 {
		return "1"
	}
	digits := strings.TrimPrefix(n.coef.String(), "-")
	lead := n.exp + len(digits) - 1 // -130..125
	var b strings.Builder
	if n.sign() > 0 {
		b.WriteByte('2')
		writeFixed(&b, lead+500)
		b.WriteString(digits)
		return b.String()
	}
	b.WriteByte('0')
	writeFixed(&b, 500-lead)
	for i := 0; i < len(digits); i++ {
		b.WriteByte('9' - digits[i] + '0')
	}
	b.WriteByte('~')
	return b.String()
}

func writeFixed(b *strings.Builder, v int) {
	b.WriteByte(byte('0' + v/100%10))
	b.WriteByte(byte('0' + v/10%10))
	b.WriteByte(byte('0' + v%10))
}
