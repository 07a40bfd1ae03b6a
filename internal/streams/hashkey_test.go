package streams

import "testing"

func TestInitialRangesMatchAWS(t *testing.T) {
	// AWS's ranges for 3 shards (quoted from kinesalite's AWS-run tests).
	starts, ends := InitialRanges(3)
	want := [][2]string{
		{"0", "113427455640312821154458202477256070484"},
		{"113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
		{"226854911280625642308916404954512140970", "340282366920938463463374607431768211455"},
	}
	for i, w := range want {
		if starts[i].String() != w[0] || ends[i].String() != w[1] {
			t.Errorf("shard %d: [%s, %s], want [%s, %s]", i, starts[i], ends[i], w[0], w[1])
		}
	}
	// A power of two: AWS ends shard 0 of 2 at 2^127 - 1.
	_, ends = InitialRanges(2)
	if got := ends[0].String(); got != "170141183460469231731687303715884105727" {
		t.Errorf("2 shards: shard 0 ends at %s", got)
	}
}

func TestParseHashKey(t *testing.T) {
	for _, s := range []string{"0", "1", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728"} {
		k, ok := ParseHashKey(s)
		if !ok || k.String() != s {
			t.Errorf("ParseHashKey(%q) = %v, %v", s, k, ok)
		}
	}
	for _, s := range []string{"", "-1", "340282366920938463463374607431768211456", "1e5", " 1", "99999999999999999999999999999999999999999"} {
		if _, ok := ParseHashKey(s); ok {
			t.Errorf("ParseHashKey(%q) accepted", s)
		}
	}
}

func TestHashPartitionKey(t *testing.T) {
	// MD5("a") = 0cc175b9c0f1b6a831c399e269772661.
	k := HashPartitionKey([]byte("a"))
	if k.Hi != 0x0cc175b9c0f1b6a8 || k.Lo != 0x31c399e269772661 {
		t.Fatalf("HashPartitionKey(a) = %x %x", k.Hi, k.Lo)
	}
	if k.Add1().Sub1() != k || MaxHashKey.Add1() != (HashKey{}) {
		t.Fatal("Add1/Sub1")
	}
}
