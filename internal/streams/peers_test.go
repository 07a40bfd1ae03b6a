package streams

import (
	"reflect"
	"sort"
	"testing"

	"github.com/millrace/millrace/internal/storage"
)

func TestPeerMsgRoundTrip(t *testing.T) {
	m := peerMsg{
		node: 0xfeedface,
		takes: map[storage.ShardKey]peerTake{
			{Stream: 3, Shard: 1}: {wBytes: 5000, wRecs: 7},
			{Stream: 4, Shard: 0}: {rBytes: 1 << 20, rCalls: 2},
			{Stream: 5, Shard: 9}: {wBytes: 1, wRecs: 1, rBytes: 2, rCalls: 1},
		},
		appended: []storage.ShardKey{{Stream: 3, Shard: 1}, {Stream: 1 << 40, Shard: 1<<32 - 1}},
		subs:     []peerSub{{key: subKey{stream: streamKey{"123456789012", "us-east-1", "s/x"}, consumer: "c", shard: 4}, rev: 99}},
	}
	got, err := decodePeerMsg(encodePeerMsg(&m))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, m) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	for _, bad := range [][]byte{nil, {1, 2, 3}, append(encodePeerMsg(&m), 9), append(encodePeerMsg(&m), peerWrite, 1)} {
		if _, err := decodePeerMsg(bad); err == nil {
			t.Fatalf("decoded %x", bad)
		}
	}
}

// FuzzPeerMsg decodes arbitrary bytes as a peer message: refused, or
// decoded into a message that encodes and decodes to itself.
func FuzzPeerMsg(f *testing.F) {
	f.Add(encodePeerMsg(&peerMsg{node: 1, appended: []storage.ShardKey{{Stream: 2, Shard: 3}}}))
	f.Add(encodePeerMsg(&peerMsg{node: 1, takes: map[storage.ShardKey]peerTake{{Stream: 1}: {wBytes: 10, wRecs: 1}}}))
	f.Add(encodePeerMsg(&peerMsg{node: 1, subs: []peerSub{{key: subKey{consumer: "c"}, rev: 2}}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := decodePeerMsg(b)
		if err != nil {
			return
		}
		again, err := decodePeerMsg(encodePeerMsg(&m))
		if err != nil {
			t.Fatalf("re-encoded message refused: %v", err)
		}
		// Repeated appends and zero takes do not survive the trip as such.
		norm := func(m *peerMsg) {
			for k, tk := range m.takes {
				if tk == (peerTake{}) {
					delete(m.takes, k)
				}
			}
			if len(m.takes) == 0 {
				m.takes = nil
			}
			sort.Slice(m.appended, func(i, j int) bool {
				a, b := m.appended[i], m.appended[j]
				return a.Stream < b.Stream || a.Stream == b.Stream && a.Shard < b.Shard
			})
		}
		norm(&m)
		norm(&again)
		if !reflect.DeepEqual(m, again) {
			t.Fatalf("%+v encodes and decodes to %+v", m, again)
		}
	})
}
