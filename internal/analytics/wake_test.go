package analytics

import (
	"testing"
	"time"
)

// TestIdleShardWatermark: a shard read to its end holds the watermark
// back to the newer of its newest record and the clock minus the idle
// grace, never further than it would while busy.
func TestIdleShardWatermark(t *testing.T) {
	e, err := NewEngine(Config{SQL: `SELECT STREAM k, COUNT(*) FROM "SOURCE_SQL_STREAM_001" GROUP BY k, STEP("SOURCE_SQL_STREAM_001".ROWTIME BY INTERVAL '1' SECOND)`,
		Schema: Schema{Format: "JSON", Columns: []Column{{Name: "k", SQLType: "VARCHAR(8)"}}}, IdleGrace: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	for shard, at := range map[string]int64{"a": 10_000, "b": 9_000} {
		if _, _, err := e.Process(Input{Shard: shard, ID: shard, Arrival: at, Data: []byte(`{"k":"x"}`)}); err != nil {
			t.Fatal(err)
		}
	}
	e.Idle("b")
	for _, c := range []struct{ now, want int64 }{
		{9_500, 9_000},   // b went quiet just now: its newest record holds it
		{11_500, 9_500},  // the clock minus the grace passed b's newest record
		{20_000, 10_000}, // a, busy, holds it
	} {
		if wm, ok := e.Watermark(time.UnixMilli(c.now)); !ok || wm != c.want {
			t.Errorf("at %d: watermark %d, %v; want %d", c.now, wm, ok, c.want)
		}
	}
	e.Idle("a")
	if wm, _ := e.Watermark(time.UnixMilli(20_000)); wm != 18_000 {
		t.Errorf("both idle at 20000: watermark %d, want 18000 (the clock minus the grace)", wm)
	}
}
