package aggregation

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// The cross-check with the awslabs deaggregation module (npm
// aws-kinesis-agg) runs in two halves so that Go tests never need node:
//
//   - go-aggregates.json holds aggregates this package writes, with the
//     user records each must yield; TestGoAggregatesFixture keeps it equal
//     to what the code writes now, and tests/kpl-agg/check.js deaggregates
//     it with the npm module.
//   - kpl-agg-aggregates.json holds aggregates the npm module wrote (from
//     check.js) with their user records; TestKPLAggAggregates decodes them
//     here. CI regenerates it with the pinned module and points
//     MILLRACE_KPL_AGG_FIXTURE at the fresh file.
var update = flag.Bool("update", false, "rewrite testdata/interop/go-aggregates.json")

type fixtureRecord struct {
	PartitionKey    string `json:"partitionKey"`
	ExplicitHashKey string `json:"explicitHashKey,omitempty"`
	Data            string `json:"data"` // base64
}

type fixtureAggregate struct {
	Name    string          `json:"name"`
	Data    string          `json:"data"` // base64 aggregated record
	Records []fixtureRecord `json:"records"`
}

func interopRecordSets() map[string][]Record {
	big := make([]Record, 200)
	for i := range big {
		big[i] = Record{PartitionKey: fmt.Sprintf("key-%d", i%17), Data: bytes.Repeat([]byte{byte(i)}, i)}
		if i%5 == 0 {
			big[i].ExplicitHashKey = PartitionKeyHash(fmt.Sprint(i)).String()
		}
	}
	return map[string][]Record{
		"one":          {{PartitionKey: "solo", Data: []byte("a single record in a container")}},
		"mixed":        sampleRecords(),
		"many":         big,
		"binary":       {{PartitionKey: "bin", Data: []byte{0xF3, 0x89, 0x9A, 0xC2, 0, 0}}, {PartitionKey: "bin", Data: []byte{0}}},
		"all-ehk-same": {{PartitionKey: "p1", ExplicitHashKey: "1", Data: []byte("x")}, {PartitionKey: "p2", ExplicitHashKey: "1", Data: []byte("y")}},
	}
}

func goAggregates(t *testing.T) []fixtureAggregate {
	sets := interopRecordSets()
	var out []fixtureAggregate
	for _, name := range []string{"one", "mixed", "many", "binary", "all-ehk-same"} {
		data, err := Marshal(sets[name])
		if err != nil {
			t.Fatal(err)
		}
		f := fixtureAggregate{Name: name, Data: base64.StdEncoding.EncodeToString(data)}
		for _, r := range sets[name] {
			f.Records = append(f.Records, fixtureRecord{r.PartitionKey, r.ExplicitHashKey, base64.StdEncoding.EncodeToString(r.Data)})
		}
		out = append(out, f)
	}
	return out
}

func TestGoAggregatesFixture(t *testing.T) {
	path := filepath.Join("testdata", "interop", "go-aggregates.json")
	want, err := json.MarshalIndent(goAggregates(t), "", " ")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	if *update {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run go test ./aggregation -run TestGoAggregatesFixture -update", path)
	}
}

func TestKPLAggAggregates(t *testing.T) {
	path := os.Getenv("MILLRACE_KPL_AGG_FIXTURE")
	if path == "" {
		path = filepath.Join("testdata", "interop", "kpl-agg-aggregates.json")
	}
	t.Logf("decoding aggregates written by aws-kinesis-agg: %s", path)
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fixtures []fixtureAggregate
	if err := json.Unmarshal(raw, &fixtures); err != nil {
		t.Fatal(err)
	}
	if len(fixtures) == 0 {
		t.Fatal("no aggregates in the fixture")
	}
	for _, f := range fixtures {
		data, err := base64.StdEncoding.DecodeString(f.Data)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := Unmarshal(data)
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		want := make([]Record, len(f.Records))
		for i, r := range f.Records {
			d, err := base64.StdEncoding.DecodeString(r.Data)
			if err != nil {
				t.Fatal(err)
			}
			want[i] = Record{PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey, Data: d}
		}
		assertRecords(t, recs, want)
		users := Deaggregate([]types.Record{{PartitionKey: aws.String("a"), SequenceNumber: aws.String("1"), Data: data}})
		for i, u := range users {
			if !u.Aggregated || u.SubSequenceNumber != int64(i) {
				t.Fatalf("%s: user record %d: aggregated %v sub-sequence %d", f.Name, i, u.Aggregated, u.SubSequenceNumber)
			}
		}
	}
}
