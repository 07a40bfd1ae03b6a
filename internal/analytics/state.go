package analytics

import (
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"
)

// The engine's state as a checkpoint holds it: every open window's
// groups with their aggregates, what each query has emitted up to, each
// shard's newest time and the counters. Values keep their SQL type.

type tv struct {
	T string `json:"t"` // s, i, f, b, t (ms), n
	V string `json:"v,omitempty"`
}

func encodeValue(v any) tv {
	switch x := v.(type) {
	case nil:
		return tv{T: "n"}
	case string:
		return tv{"s", x}
	case int64:
		return tv{"i", strconv.FormatInt(x, 10)}
	case float64:
		return tv{"f", strconv.FormatFloat(x, 'g', -1, 64)}
	case bool:
		return tv{"b", strconv.FormatBool(x)}
	case time.Time:
		return tv{"t", strconv.FormatInt(x.UnixNano(), 10)}
	}
	return tv{"s", formatValue(v)}
}

func (t tv) decode() (any, error) {
	var err error
	var v any
	switch t.T {
	case "n":
		return nil, nil
	case "s":
		return t.V, nil
	case "i":
		v, err = strconv.ParseInt(t.V, 10, 64)
	case "f":
		v, err = strconv.ParseFloat(t.V, 64)
	case "b":
		v, err = strconv.ParseBool(t.V)
	case "t":
		var n int64
		n, err = strconv.ParseInt(t.V, 10, 64)
		v = time.Unix(0, n).UTC()
	default:
		return nil, fmt.Errorf("value type %q is unknown", t.T)
	}
	return v, err
}

type accState struct {
	Count    int64   `json:"c,omitempty"`
	SumI     int64   `json:"si,omitempty"`
	SumF     float64 `json:"sf,omitempty"`
	Float    bool    `json:"fl,omitempty"`
	Min      *tv     `json:"mn,omitempty"`
	Max      *tv     `json:"mx,omitempty"`
	Distinct []tv    `json:"d,omitempty"`
	HLL      []byte  `json:"h,omitempty"` // a HyperLogLog sketch
}

type groupState struct {
	Start int64      `json:"s"`
	End   int64      `json:"e"`
	Keys  []tv       `json:"k"`
	Accs  []accState `json:"a"`
}

type opState struct {
	ClosedTo int64        `json:"closedTo"`
	Groups   []groupState `json:"groups"`
	Slides   []slideState `json:"slides,omitempty"`
	// JoinWM and Joined are a stream join's watermark and kept rows.
	JoinWM *int64         `json:"joinWM,omitempty"`
	Joined []joinRowState `json:"joined,omitempty"`
}

type engineState struct {
	Queries   []opState        `json:"queries"`
	Shards    map[string]int64 `json:"shards"`
	Late      int64            `json:"late"`
	Malformed int64            `json:"malformed"`
}

func encodeGroup(w winKey, g *group) (groupState, error) {
	gs := groupState{Start: w.Start, End: w.End, Keys: make([]tv, len(g.Keys)), Accs: make([]accState, len(g.Accs))}
	for i, k := range g.Keys {
		gs.Keys[i] = encodeValue(k)
	}
	for i, a := range g.Accs {
		as := accState{Count: a.Count, SumI: a.SumI, SumF: a.SumF, Float: a.Float}
		if a.Min != nil {
			v := encodeValue(a.Min)
			as.Min = &v
		}
		if a.Max != nil {
			v := encodeValue(a.Max)
			as.Max = &v
		}
		keys := make([]string, 0, len(a.Distinct))
		for k := range a.Distinct {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			as.Distinct = append(as.Distinct, encodeValue(a.Distinct[k]))
		}
		var err error
		if as.HLL, err = encodeSketch(a.HLL); err != nil {
			return gs, err
		}
		gs.Accs[i] = as
	}
	return gs, nil
}

// Snapshot is the engine's state, for a checkpoint.
func (e *Engine) Snapshot() ([]byte, error) {
	st := engineState{Shards: map[string]int64{}, Late: e.Late, Malformed: e.Malformed}
	for id, s := range e.shards {
		st.Shards[id] = s.Max
	}
	for _, op := range e.ops {
		os := opState{ClosedTo: op.closedTo, Groups: []groupState{}}
		for w, groups := range op.aligned {
			for _, g := range groups {
				gs, err := encodeGroup(w, g)
				if err != nil {
					return nil, err
				}
				os.Groups = append(os.Groups, gs)
			}
		}
		for _, wins := range op.keyed {
			for _, kw := range wins {
				gs, err := encodeGroup(winKey{kw.Start, kw.End}, kw.G)
				if err != nil {
					return nil, err
				}
				os.Groups = append(os.Groups, gs)
			}
		}
		os.Slides = op.snapshotSlides()
		if j := op.p.join; j != nil && j.streams {
			wm := op.joinWM
			os.JoinWM, os.Joined = &wm, op.snapshotJoin()
		}
		st.Queries = append(st.Queries, os)
	}
	return json.Marshal(st)
}

// Restore replaces the engine's state with a snapshot taken from an
// engine running the same application.
func (e *Engine) Restore(b []byte) error {
	var st engineState
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("checkpoint state: %w", err)
	}
	if len(st.Queries) != len(e.ops) {
		return fmt.Errorf("the checkpoint holds %d queries and the application has %d", len(st.Queries), len(e.ops))
	}
	e.Late, e.Malformed = st.Late, st.Malformed
	e.shards = map[string]*shardTime{}
	for id, m := range st.Shards {
		e.shards[id] = &shardTime{Max: m, Idle: true}
	}
	for qi, os := range st.Queries {
		op := newOperator(qi, e.ops[qi].p)
		op.closedTo = os.ClosedTo
		for _, gs := range os.Groups {
			g := &group{Keys: make([]any, len(gs.Keys)), Accs: make([]acc, len(gs.Accs))}
			if len(gs.Keys) != len(op.p.keys) || len(gs.Accs) != len(op.p.aggs) {
				return fmt.Errorf("the checkpoint's groups do not match query %d", qi+1)
			}
			var gk []byte
			for i, k := range gs.Keys {
				v, err := k.decode()
				if err != nil {
					return err
				}
				g.Keys[i] = v
				gk = append(append(gk, typedKey(v)...), 0)
			}
			for i, as := range gs.Accs {
				a := acc{Count: as.Count, SumI: as.SumI, SumF: as.SumF, Float: as.Float}
				var err error
				if as.Min != nil {
					if a.Min, err = as.Min.decode(); err != nil {
						return err
					}
				}
				if as.Max != nil {
					if a.Max, err = as.Max.decode(); err != nil {
						return err
					}
				}
				for _, d := range as.Distinct {
					v, err := d.decode()
					if err != nil {
						return err
					}
					if a.Distinct == nil {
						a.Distinct = map[string]any{}
					}
					a.Distinct[typedKey(v)] = v
				}
				if a.HLL, err = decodeSketch(as.HLL); err != nil {
					return err
				}
				g.Accs[i] = a
			}
			w := winKey{gs.Start, gs.End}
			switch op.p.q.Window.Kind {
			case Session, Stagger:
				op.keyed[string(gk)] = append(op.keyed[string(gk)], &keyedWin{Start: w.Start, End: w.End, G: g})
			default:
				if op.aligned[w] == nil {
					op.aligned[w] = map[string]*group{}
				}
				op.aligned[w][string(gk)] = g
			}
		}
		if err := op.restoreSlides(os.Slides); err != nil {
			return err
		}
		if j := op.p.join; (j != nil && j.streams) || len(os.Joined) > 0 {
			wm := int64(-1 << 62)
			if os.JoinWM != nil {
				wm = *os.JoinWM
			}
			if err := op.restoreJoin(wm, os.Joined); err != nil {
				return err
			}
		}
		e.ops[qi] = op
	}
	return nil
}
