package analytics

import (
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"
	"time"

	"github.com/axiomhq/hyperloglog"
)

// acc is one aggregate's state within one group and window.
type acc struct {
	Count    int64
	SumI     int64
	SumF     float64
	Float    bool
	Min, Max any
	Distinct map[string]any
	HLL      *hyperloglog.Sketch // APPROX_COUNT_DISTINCT past exactDistinct
}

func (a *acc) add(spec *aggSpec, v any) {
	if spec.arg == nil { // COUNT(*)
		a.Count++
		return
	}
	if v == nil {
		return
	}
	if spec.approx {
		a.addApprox(v)
		return
	}
	if spec.distinct {
		if a.Distinct == nil {
			a.Distinct = map[string]any{}
		}
		a.Distinct[typedKey(v)] = v
		return
	}
	a.Count++
	switch spec.kind {
	case aggSum, aggAvg:
		a.addNumber(v)
	case aggMin:
		if c, ok := compare(v, a.Min); a.Min == nil || (ok && c < 0) {
			a.Min = v
		}
	case aggMax:
		if c, ok := compare(v, a.Max); a.Max == nil || (ok && c > 0) {
			a.Max = v
		}
	}
}

func (a *acc) addNumber(v any) {
	if i, ok := v.(int64); ok && !a.Float {
		a.SumI += i
		return
	}
	f, ok := toFloat(v)
	if !ok {
		return
	}
	if !a.Float {
		a.Float = true
		a.SumF = float64(a.SumI)
	}
	a.SumF += f
}

// merge folds b into a (session windows that a row joins together).
func (a *acc) merge(spec *aggSpec, b *acc) {
	if spec.approx {
		a.mergeApprox(b)
		return
	}
	for k, v := range b.Distinct {
		if a.Distinct == nil {
			a.Distinct = map[string]any{}
		}
		a.Distinct[k] = v
	}
	a.Count += b.Count
	if b.Float {
		a.addNumber(b.SumF)
	} else if b.SumI != 0 {
		a.addNumber(b.SumI)
	}
	if b.Min != nil {
		if c, ok := compare(b.Min, a.Min); a.Min == nil || (ok && c < 0) {
			a.Min = b.Min
		}
	}
	if b.Max != nil {
		if c, ok := compare(b.Max, a.Max); a.Max == nil || (ok && c > 0) {
			a.Max = b.Max
		}
	}
}

func (a *acc) result(spec *aggSpec) any {
	if spec.approx {
		return a.approxCount()
	}
	if spec.distinct {
		vals := make([]any, 0, len(a.Distinct))
		for _, v := range a.Distinct {
			vals = append(vals, v)
		}
		if spec.kind == aggCount {
			return int64(len(vals))
		}
		sort.Slice(vals, func(i, j int) bool { c, _ := compare(vals[i], vals[j]); return c < 0 })
		b := acc{}
		nd := aggSpec{kind: spec.kind, arg: spec.arg, argCol: spec.argCol}
		for _, v := range vals {
			b.add(&nd, v)
		}
		return b.result(&nd)
	}
	switch spec.kind {
	case aggCount:
		return a.Count
	case aggSum:
		if a.Count == 0 {
			return nil
		}
		if a.Float {
			return a.SumF
		}
		return a.SumI
	case aggAvg:
		if a.Count == 0 {
			return nil
		}
		s := float64(a.SumI)
		if a.Float {
			s = a.SumF
		}
		return s / float64(a.Count)
	case aggMin:
		return a.Min
	case aggMax:
		return a.Max
	}
	return nil
}

// typedKey is a value's identity: its type and its text.
func typedKey(v any) string {
	switch v.(type) {
	case nil:
		return "n"
	case string:
		return "s" + v.(string)
	case int64:
		return "i" + formatValue(v)
	case float64:
		return "f" + formatValue(v)
	case bool:
		return "b" + formatValue(v)
	case time.Time:
		return "t" + strconv.FormatInt(v.(time.Time).UnixNano(), 10)
	}
	return "?" + formatValue(v)
}

// appendTypedKey appends typedKey(v) to dst, without a string of its own
// for the common key types.
func appendTypedKey(dst []byte, v any) []byte {
	switch x := v.(type) {
	case string:
		return append(append(dst, 's'), x...)
	case int64:
		return strconv.AppendInt(append(dst, 'i'), x, 10)
	}
	return append(dst, typedKey(v)...)
}

// group is the state of one group in one window.
type group struct {
	Keys []any
	Accs []acc
}

// winKey is an aligned window (TUMBLE, HOP, CUMULATE), in ms.
type winKey struct{ Start, End int64 }

// keyedWin is a window of one group (SESSION, STAGGER).
type keyedWin struct {
	Start, End int64
	G          *group
}

// Result is one output row: a window's result for one group, or a row
// of a query without a window.
type Result struct {
	Query int
	Dest  string
	// ID is the row's identity, the same whenever the same input is
	// processed again: query, window and a hash of the group's keys, or
	// query and the source record's identity.
	ID          string
	WindowStart int64 // ms; 0 without a window
	WindowEnd   int64
	Columns     []string
	Values      []any

	order []any // ORDER BY keys, to rank a window's rows
	// rowtime is a row's ROWTIME without a window: its record's arrival,
	// or for a joined row the later of its two rows'.
	rowtime int64
}

// operator runs one compiled query: it assigns rows to windows, keeps
// each window's groups and emits them when the watermark passes the end.
type operator struct {
	idx      int
	p        *plan
	aligned  map[winKey]map[string]*group
	keyed    map[string][]*keyedWin
	closedTo int64 // windows ending at or before this have been emitted
	scratch  []any
	heaps    map[winKey]*countHeap // bounded queries' smallest counts
	slides   map[string]*slide     // sliding windows' rows, by partition
	// kept are a stream join's rows of each side, by join key; joinWM is
	// the watermark the join has passed (rows older are late).
	kept   [2]map[string][]*joinRow
	expiry [2]expiry
	joinWM int64

	// keyScratch and gkScratch hold a row's group keys and group key
	// bytes; rowEnv is whether a row's programs read the environment.
	keyScratch []any
	gkScratch  []byte
	rowEnv     bool
}

func newOperator(idx int, p *plan) *operator {
	return &operator{idx: idx, p: p, aligned: map[winKey]map[string]*group{}, keyed: map[string][]*keyedWin{}, closedTo: -1 << 62, joinWM: -1 << 62, rowEnv: p.readsRow()}
}

// processAs takes a row of the stream a query reads (side 0) or, for a
// join of two streams, of the stream it joins (side 1).
func (o *operator) processAs(side int, row []any, rowtime int64, id string) (bool, []Result, error) {
	if side == 1 {
		return o.processSide(1, row, rowtime, id)
	}
	return o.process(row, rowtime, id)
}

// cloneKeys is a group's own copy of a row's keys.
func cloneKeys(keys []any) []any {
	return append(make([]any, 0, len(keys)), keys...)
}

// readsRow is whether taking a row runs a program on it (a filter, a
// computed key or aggregate argument, a row's output, a join): only then
// does the row go into the environment. Group-scope programs (HAVING, a
// window's outputs, ORDER BY) read the group's variables only.
func (p *plan) readsRow() bool {
	if p.filter != nil || !p.grouped || p.join != nil || p.q.Window.Kind == Sliding {
		return true
	}
	for _, c := range p.keyCols {
		if c < 0 {
			return true
		}
	}
	for i := range p.aggs {
		if p.aggs[i].argCol < 0 && p.aggs[i].arg != nil {
			return true
		}
	}
	return len(p.keyCols) != len(p.keys)
}

func (o *operator) setRow(row []any, rowtime int64) {
	for _, i := range o.p.used {
		o.p.env[colVar(i)] = row[i]
	}
	o.p.env["rowtime"] = time.UnixMilli(rowtime).UTC()
}

var colVars = func() []string {
	v := make([]string, 256)
	for i := range v {
		v[i] = "c" + strconv.Itoa(i)
	}
	return v
}()

func colVar(i int) string {
	if i < len(colVars) {
		return colVars[i]
	}
	return "c" + strconv.Itoa(i)
}

// eventTime is a row's time in ms: its ROWTIME or its time column.
func (o *operator) eventTime(row []any, rowtime int64) (int64, bool) {
	if o.p.timeCol < 0 {
		return rowtime, true
	}
	switch v := row[o.p.timeCol].(type) {
	case time.Time:
		return v.UnixMilli(), true
	case int64:
		return v, true
	}
	return 0, false
}

// windows returns the aligned windows a time falls in.
func (o *operator) windows(t int64, buf []winKey) []winKey {
	w := o.p.q.Window
	size := w.Size.Milliseconds()
	switch w.Kind {
	case Tumbling:
		s := t - mod(t, size)
		return append(buf, winKey{s, s + size})
	case Hopping:
		slide := w.Slide.Milliseconds()
		last := t - mod(t, slide)
		for s := last; s > t-size; s -= slide {
			buf = append(buf, winKey{s, s + size})
		}
	case Cumulate:
		step := w.Slide.Milliseconds()
		s := t - mod(t, size)
		for e := s + step; e <= s+size; e += step {
			if e > t {
				buf = append(buf, winKey{s, e})
			}
		}
	}
	return buf
}

// processRow takes one row (joined with the reference table, if the
// query joins one). It returns whether the row was late (every window it
// belongs to already emitted) and, for a query without a window, its
// output row.
func (o *operator) processRow(row []any, rowtime int64, id string) (late bool, out *Result, err error) {
	if o.rowEnv {
		o.setRow(row, rowtime)
	}
	if o.p.filter != nil {
		v, err := run(o.p.filter, o.p.env)
		if err != nil {
			return false, nil, err
		}
		if !truth(v) {
			return false, nil, nil
		}
	}
	if !o.p.grouped {
		vals := make([]any, len(o.p.outs))
		for i, prog := range o.p.outs {
			if vals[i], err = run(prog, o.p.env); err != nil {
				return false, nil, err
			}
		}
		return false, &Result{Query: o.idx, Dest: o.p.q.Dest, ID: fmt.Sprintf("q%d-%s", o.idx, id), Columns: o.p.names, Values: vals, rowtime: rowtime}, nil
	}
	t, ok := o.eventTime(row, rowtime)
	if !ok {
		return true, nil, nil // no event time: it belongs to no window
	}
	// The keys and their bytes are scratch: a group gets copies of its own
	// when it is made, so a row of an existing group allocates nothing.
	keys := o.keyScratch[:0]
	kb := o.gkScratch[:0]
	for i, prog := range o.p.keys {
		var k any
		if c := o.p.keyCols[i]; c >= 0 {
			k = row[c]
		} else if k, err = run(prog, o.p.env); err != nil {
			return false, nil, err
		}
		keys = append(keys, k)
		kb = appendTypedKey(kb, k)
		kb = append(kb, 0)
	}
	o.keyScratch, o.gkScratch = keys, kb
	args := o.scratch[:0]
	for i := range o.p.aggs {
		var v any
		if c := o.p.aggs[i].argCol; c >= 0 {
			v = row[c]
		} else if a := o.p.aggs[i].arg; a != nil {
			if v, err = run(a, o.p.env); err != nil {
				return false, nil, err
			}
		}
		args = append(args, v)
	}
	o.scratch = args
	switch o.p.q.Window.Kind {
	case Sliding:
		r, err := o.processSliding(string(kb), cloneKeys(keys), rowtime, args, id)
		return false, r, err
	case Session, Stagger:
		return o.processKeyed(string(kb), cloneKeys(keys), t, args), nil, nil
	}
	var gk string // made once the row needs it as a string
	var gkeys []any
	if o.p.q.Capacity > 0 {
		gk = string(kb)
	}
	var buf [8]winKey
	placed := false
	for _, w := range o.windows(t, buf[:0]) {
		if w.End <= o.closedTo {
			continue
		}
		placed = true
		groups := o.aligned[w]
		if groups == nil {
			groups = map[string]*group{}
			o.aligned[w] = groups
		}
		g := groups[string(kb)]
		if g == nil {
			if gkeys == nil {
				gk, gkeys = string(kb), cloneKeys(keys)
			}
			g = &group{Keys: gkeys, Accs: make([]acc, len(o.p.aggs))}
			if o.p.q.Capacity > 0 {
				o.admit(w, groups, gk, g)
			}
			groups[gk] = g
		}
		for i := range o.p.aggs {
			g.Accs[i].add(&o.p.aggs[i], args[i])
		}
		if o.p.q.Capacity > 0 {
			o.counted(w, gk)
		}
	}
	return !placed, nil, nil
}

func (o *operator) processKeyed(gk string, keys []any, t int64, args []any) bool {
	w := o.p.q.Window
	wins := o.keyed[gk]
	if w.Kind == Stagger {
		for _, kw := range wins {
			if kw.Start <= t && t < kw.End {
				o.addTo(kw.G, args)
				return false
			}
		}
		end := t + w.Size.Milliseconds()
		if end <= o.closedTo {
			return true
		}
		kw := &keyedWin{Start: t, End: end, G: &group{Keys: keys, Accs: make([]acc, len(o.p.aggs))}}
		o.addTo(kw.G, args)
		o.keyed[gk] = append(wins, kw)
		return false
	}
	gap := w.Gap.Milliseconds()
	start, end := t, t+gap
	if end <= o.closedTo {
		return true
	}
	merged := &keyedWin{Start: start, End: end, G: &group{Keys: keys, Accs: make([]acc, len(o.p.aggs))}}
	o.addTo(merged.G, args)
	var rest []*keyedWin
	for _, kw := range wins {
		if kw.Start <= merged.End && merged.Start <= kw.End {
			merged.Start = min(merged.Start, kw.Start)
			merged.End = max(merged.End, kw.End)
			for i := range o.p.aggs {
				merged.G.Accs[i].merge(&o.p.aggs[i], &kw.G.Accs[i])
			}
			continue
		}
		rest = append(rest, kw)
	}
	o.keyed[gk] = append(rest, merged)
	return false
}

func (o *operator) addTo(g *group, args []any) {
	for i := range o.p.aggs {
		g.Accs[i].add(&o.p.aggs[i], args[i])
	}
}

// advance passes the watermark to a stream join (which drops the rows
// it no longer needs and emits a LEFT JOIN's rows without a match), then
// emits every window that ends at or before it.
func (o *operator) advance(watermark int64) ([]Result, error) {
	if j := o.p.join; j == nil || !j.streams {
		return o.advanceWindows(watermark)
	}
	out, err := o.evict(watermark)
	if err != nil {
		return out, err
	}
	r, err := o.advanceWindows(watermark)
	return append(out, r...), err
}

// advanceWindows emits every window that ends at or before the
// watermark, in order of window end, then start, then group.
func (o *operator) advanceWindows(watermark int64) ([]Result, error) {
	if watermark <= o.closedTo || !o.p.grouped {
		return nil, nil
	}
	type closing struct {
		w  winKey
		gk string
		g  *group
	}
	var due []closing
	for w, groups := range o.aligned {
		if w.End <= watermark {
			for gk, g := range groups {
				due = append(due, closing{w, gk, g})
			}
			delete(o.aligned, w)
			delete(o.heaps, w)
		}
	}
	for gk, wins := range o.keyed {
		kept := wins[:0]
		for _, kw := range wins {
			if kw.End <= watermark {
				due = append(due, closing{winKey{kw.Start, kw.End}, gk, kw.G})
			} else {
				kept = append(kept, kw)
			}
		}
		if len(kept) == 0 {
			delete(o.keyed, gk)
		} else {
			o.keyed[gk] = kept
		}
	}
	o.closedTo = watermark
	sort.Slice(due, func(i, j int) bool {
		a, b := due[i], due[j]
		if a.w.End != b.w.End {
			return a.w.End < b.w.End
		}
		if a.w.Start != b.w.Start {
			return a.w.Start < b.w.Start
		}
		return a.gk < b.gk
	})
	var out []Result
	for _, d := range due {
		r, ok, err := o.emit(d.w, d.gk, d.g)
		if err != nil {
			return out, err
		}
		if ok {
			out = append(out, r)
		}
	}
	return o.rank(out), nil
}

func (o *operator) emit(w winKey, gk string, g *group) (Result, bool, error) {
	env := o.p.env
	env["ws"] = time.UnixMilli(w.Start).UTC()
	env["we"] = time.UnixMilli(w.End).UTC()
	for i, k := range g.Keys {
		env["g"+strconv.Itoa(i)] = k
	}
	for i := range o.p.aggs {
		env["a"+strconv.Itoa(i)] = g.Accs[i].result(&o.p.aggs[i])
	}
	if o.p.having != nil {
		v, err := run(o.p.having, env)
		if err != nil {
			return Result{}, false, err
		}
		if !truth(v) {
			return Result{}, false, nil
		}
	}
	vals := make([]any, len(o.p.outs))
	for i, prog := range o.p.outs {
		v, err := run(prog, env)
		if err != nil {
			return Result{}, false, err
		}
		vals[i] = v
	}
	order, err := o.orderValues(env)
	if err != nil {
		return Result{}, false, err
	}
	h := fnv.New64a()
	h.Write([]byte(gk))
	return Result{
		Query: o.idx, Dest: o.p.q.Dest,
		ID:          fmt.Sprintf("q%d-%d-%d-%016x", o.idx, w.Start, w.End, h.Sum64()),
		WindowStart: w.Start, WindowEnd: w.End, Columns: o.p.names, Values: vals, order: order,
	}, true, nil
}
