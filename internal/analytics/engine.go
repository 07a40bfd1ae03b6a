package analytics

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Config is what an Engine runs.
type Config struct {
	// SQL is the application's code (ParseProgram).
	SQL    string
	Schema Schema
	// AllowedLateness is how far behind the newest event time a row may
	// arrive and still count in its window; the watermark is the newest
	// time seen minus it. Later rows are counted as late and handed back.
	AllowedLateness time.Duration
	// IdleGrace applies to ROWTIME windows: once every source shard is
	// read to its end, the watermark is the clock minus IdleGrace, so that
	// windows close without new records (a record's arrival time is taken
	// before it is readable, by at most the time an append takes).
	IdleGrace time.Duration
	// Tables are the reference tables queries may join the stream with
	// (LoadTable); they are read once, when the engine is made.
	Tables []Table
	// Sources are further source streams, each read by the queries whose
	// FROM or JOIN names it (millrace sql's --stream NAME=STREAM). Their
	// records come with Input.Source set to the name.
	Sources []Source
}

// Source is a named source stream besides the first.
type Source struct {
	Name   string
	Schema Schema
}

// Inputs of a query: the source (-1), a named source k (namedSource(k)),
// another query's rows (>= 0), or none (noInput: a query joining no
// second stream).
const noInput = -2

func namedSource(k int) int { return -10 - k }

func isSource(up int) bool { return up == -1 || up <= -10 }

// Input is one source record.
type Input struct {
	// Source is the name of the Config.Sources stream the record comes
	// from, "" for the first source.
	Source string
	// Shard identifies the shard (unique across the sources).
	Shard string
	// ID identifies the record in its stream (shard and sequence number);
	// rows of queries without a window take their identity from it.
	ID      string
	Arrival int64 // ms since the epoch: ROWTIME
	Data    []byte
}

// Rejected is a record, or one row of it, that produced no output: a
// record the schema cannot read, or a row that came after its windows
// closed. KDA sends these to the error stream.
type Rejected struct {
	Input  Input
	Reason string
}

// Engine runs an application's queries over records: windows, watermarks
// and keyed state. It is not safe for concurrent use.
type Engine struct {
	cfg     Config
	program *Program
	ops     []*operator
	shards  map[string]*shardTime
	// Late and Malformed count rows that came after their window closed
	// and records the schema could not read.
	Late, Malformed int64
	eventTime       bool
	// up[i] is the query whose in-application stream query i reads, or
	// -1 for the source (namedSource(k) for Config.Sources[k]); upR[i]
	// is the same for the second stream a query joins, noInput when it
	// joins none.
	up, upR []int
}

type shardTime struct {
	Max  int64
	Idle bool
}

// NewEngine compiles an application.
func NewEngine(cfg Config) (*Engine, error) {
	if err := cfg.Schema.compile(); err != nil {
		return nil, fmt.Errorf("input schema: %w", err)
	}
	if cfg.AllowedLateness < 0 || cfg.IdleGrace < 0 {
		return nil, fmt.Errorf("allowed lateness and idle grace cannot be negative")
	}
	cfg.Sources = append([]Source(nil), cfg.Sources...)
	for i := range cfg.Sources {
		if err := cfg.Sources[i].Schema.compile(); err != nil {
			return nil, fmt.Errorf("stream %s: %w", cfg.Sources[i].Name, err)
		}
	}
	cfg.Tables = append([]Table(nil), cfg.Tables...)
	for i := range cfg.Tables {
		if err := cfg.Tables[i].Schema.compile(); err != nil {
			return nil, fmt.Errorf("reference table %s: %w", cfg.Tables[i].Name, err)
		}
	}
	prog, err := ParseProgram(cfg.SQL)
	if err != nil {
		return nil, err
	}
	e := &Engine{cfg: cfg, program: prog, shards: map[string]*shardTime{}}
	for i, q := range prog.Queries {
		lname, rname := fromNames(q)
		schema, up, err := e.inputOf(i, lname, &cfg.Schema)
		if err != nil {
			return nil, err
		}
		var right *joinedStream
		upR := noInput
		if rname != "" && !isTable(cfg.Tables, rname) {
			right = &joinedStream{}
			if right.Schema, upR, err = e.inputOf(i, rname, &cfg.Schema); err != nil {
				return nil, err
			}
			right.Stream = upR != -1
		}
		p, err := compile(q, schema, cfg.Tables, right)
		if err != nil {
			if len(prog.Queries) > 1 {
				return nil, fmt.Errorf("query %d: %w", i+1, err)
			}
			return nil, err
		}
		if p.timeCol >= 0 && up < 0 && (p.join == nil || !p.join.streams) {
			e.eventTime = true
		}
		if p.join != nil && p.join.streams {
			for side, u := range []int{up, upR} {
				if isSource(u) && p.join.interval.timeCols[side] >= 0 {
					e.eventTime = true
				}
			}
		} else if p.join != nil {
			p.join.buildIndex(&cfg.Tables[p.join.table])
		}
		e.ops = append(e.ops, newOperator(i, p))
		e.up = append(e.up, up)
		e.upR = append(e.upR, upR)
	}
	return e, nil
}

// Program is the parsed application code.
func (e *Engine) Program() *Program { return e.program }

// Columns are each query's output column names.
func (e *Engine) Columns(query int) []string { return e.ops[query].p.names }

// Process takes one record: it returns the rows of queries without a
// window at once and the rows rejected (unreadable, or late).
func (e *Engine) Process(in Input) (out []Result, rejected []Rejected, err error) {
	sc := &e.cfg.Schema
	if in.Source != "" {
		k, ok := e.source(in.Source)
		if !ok {
			return nil, nil, fmt.Errorf("the application has no source stream %s", in.Source)
		}
		sc = &e.cfg.Sources[k].Schema
	}
	rows, perr := sc.Rows(in.Data)
	return e.processRows(in, rows, perr)
}

// source finds a named source: by its exact name, else ignoring case.
func (e *Engine) source(name string) (int, bool) {
	for _, fold := range []bool{false, true} {
		for k, s := range e.cfg.Sources {
			if s.Name == name || fold && strings.EqualFold(s.Name, name) {
				return k, true
			}
		}
	}
	return 0, false
}

// processRows is Process for a record already read into rows (or not
// readable: perr).
func (e *Engine) processRows(in Input, rows [][]any, perr error) (out []Result, rejected []Rejected, err error) {
	if perr != nil {
		e.Malformed++
		return nil, []Rejected{{Input: in, Reason: perr.Error()}}, nil
	}
	st := e.shards[in.Shard]
	if st == nil {
		st = &shardTime{Max: math.MinInt64}
		e.shards[in.Shard] = st
	}
	st.Idle = false
	from := -1
	if in.Source != "" {
		k, ok := e.source(in.Source)
		if !ok {
			return nil, nil, fmt.Errorf("the application has no source stream %s", in.Source)
		}
		from = namedSource(k)
	}
	for ri, row := range rows {
		id := in.ID
		if len(rows) > 1 {
			id += "-" + strconv.Itoa(ri)
		}
		rowLate := false
		for qi, op := range e.ops {
			for side, up := range []int{e.up[qi], e.upR[qi]} {
				if up != from {
					continue // it reads another stream, or joins none
				}
				late, rs, err := op.processAs(side, row, in.Arrival, id)
				if err != nil {
					return out, rejected, err
				}
				out = append(out, rs...)
				rowLate = rowLate || late
				if j := op.p.join; j != nil && j.streams {
					if j.interval.timeCols[side] >= 0 {
						if t, ok := op.sideTime(side, row, in.Arrival); ok && t > st.Max {
							st.Max = t
						}
					}
				} else if t, ok := op.eventTime(row, in.Arrival); ok && op.p.grouped && t > st.Max {
					st.Max = t
				}
			}
		}
		if rowLate {
			e.Late++
			rejected = append(rejected, Rejected{Input: in, Reason: "late: the row's window (or join interval) had closed"})
		}
	}
	if in.Arrival > st.Max && !e.eventTime {
		st.Max = in.Arrival
	}
	out, err = e.feed(out, in.Arrival)
	return out, rejected, err
}

// Idle marks a shard as read to its end: until its next record it does
// not hold the watermark back.
func (e *Engine) Idle(shard string) {
	st := e.shards[shard]
	if st == nil {
		st = &shardTime{Max: math.MinInt64}
		e.shards[shard] = st
	}
	st.Idle = true
}

// Forget drops a shard that has ended (after a reshard).
func (e *Engine) Forget(shard string) { delete(e.shards, shard) }

// Watermark is the time up to which every window is complete: the
// oldest newest-time among shards still being read (or, with every shard
// idle, the newest event time, or for ROWTIME the clock minus IdleGrace),
// minus the allowed lateness. ok is false while nothing is known.
func (e *Engine) Watermark(now time.Time) (int64, bool) {
	if len(e.shards) == 0 {
		return 0, false
	}
	busyMin, newest := int64(math.MaxInt64), int64(math.MinInt64)
	idleMin := int64(math.MaxInt64)
	idle := false
	for _, st := range e.shards {
		newest = max(newest, st.Max)
		if st.Idle {
			idle = true
			idleMin = min(idleMin, st.Max)
		} else {
			busyMin = min(busyMin, st.Max)
		}
	}
	wm := busyMin
	if idle {
		if e.eventTime {
			if busyMin == math.MaxInt64 {
				wm = newest
			}
		} else {
			// An idle shard's next record arrives no earlier than the clock
			// minus the time an append takes, nor (as for a busy shard)
			// before the newest record read from it: a shard that went
			// quiet a moment ago does not hold the watermark back by the
			// whole grace.
			wm = min(busyMin, max(idleMin, now.UnixMilli()-e.cfg.IdleGrace.Milliseconds()))
		}
	}
	if wm == math.MinInt64 || wm == math.MaxInt64 {
		return 0, false
	}
	return wm - e.cfg.AllowedLateness.Milliseconds(), true
}

// Advance emits the windows the watermark has passed, in order of window
// end.
func (e *Engine) Advance(now time.Time) ([]Result, error) {
	wm, ok := e.Watermark(now)
	if !ok {
		return nil, nil
	}
	var out []Result
	for _, op := range e.ops {
		r, err := op.advance(wm)
		if err != nil {
			return out, err
		}
		if r, err = e.feed(r, 0); err != nil {
			return out, err
		}
		out = append(out, r...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].WindowEnd < out[j].WindowEnd })
	return out, nil
}

// Flush emits every open window, as if the watermark had passed them all
// (a bounded input read to its end).
func (e *Engine) Flush() ([]Result, error) {
	var out []Result
	for _, op := range e.ops {
		r, err := op.advance(math.MaxInt64 / 2)
		if err != nil {
			return out, err
		}
		if r, err = e.feed(r, 0); err != nil {
			return out, err
		}
		out = append(out, r...)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].WindowEnd < out[j].WindowEnd })
	return out, nil
}
