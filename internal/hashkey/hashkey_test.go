package hashkey

import "testing"

func TestParse(t *testing.T) {
	for _, s := range []string{"0", "1", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728"} {
		k, ok := Parse(s)
		if !ok || k.String() != s {
			t.Errorf("Parse(%q) = %v, %v", s, k, ok)
		}
	}
	for _, s := range []string{"", "-1", "01", "340282366920938463463374607431768211456", "1e5", " 1", "9999999999999999999999999999999999999999"} {
		if _, ok := Parse(s); ok {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestOfAndArithmetic(t *testing.T) {
	// MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
	k := Of([]byte("a"))
	if k.Hi != 0x0cc175b9c0f1b6a8 || k.Lo != 0x31c399e269772661 {
		t.Fatalf("Of(a) = %x %x", k.Hi, k.Lo)
	}
	if k.Add1().Sub1() != k || Max.Add1() != (Key{}) || (Key{}).Sub1() != Max {
		t.Fatal("Add1/Sub1")
	}
	if (Key{Lo: ^uint64(0)}).Add1() != (Key{Hi: 1}) || FromBig(Max.Big()) != Max {
		t.Fatal("carry or big.Int round trip")
	}
	if Max.Cmp(k) != 1 || k.Cmp(Max) != -1 || k.Cmp(k) != 0 {
		t.Fatal("Cmp")
	}
}
