// /metrics polled every few seconds, parsed from the Prometheus text
// format, with a short history from which the charts take rates.

const KEEP = /^(millrace_|go_goroutines$|go_memstats_heap_inuse_bytes$|process_)/;
const HISTORY = 90;

// parse returns the samples of a Prometheus text exposition as
// {name, labels, value}.
export function parse(text) {
  const out = [];
  for (const line of text.split('\n')) {
    if (!line || line[0] === '#') continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m || !KEEP.test(m[1])) continue;
    const labels = {};
    if (m[3]) {
      const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;
      let l;
      while ((l = re.exec(m[3]))) {
        labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\(.)/g, '$1');
      }
    }
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

// Poller keeps the last HISTORY scrapes: {t (ms), samples}.
export class Poller {
  constructor(interval) {
    this.interval = interval;
    this.history = [];
    this.listeners = new Set();
    this.error = null;
    this.timer = null;
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      try {
        const resp = await fetch('/metrics', { cache: 'no-store', credentials: 'omit' });
        if (!resp.ok) throw new Error(`GET /metrics: HTTP ${resp.status}`);
        const samples = parse(await resp.text());
        this.history.push({ t: performance.now(), samples });
        if (this.history.length > HISTORY) this.history.shift();
        this.error = null;
      } catch (e) {
        this.error = e;
      }
      for (const f of this.listeners) f(this);
      this.timer = setTimeout(tick, this.interval);
    };
    tick();
  }

  subscribe(f) {
    this.listeners.add(f);
    return () => this.listeners.delete(f);
  }

  latest() {
    return this.history.length ? this.history[this.history.length - 1].samples : [];
  }

  // sum is, per scrape, the sum of the series named name whose labels
  // match (every key of match equal; a function gets the labels).
  sums(name, match = {}) {
    const ok = typeof match === 'function' ? match
      : (l) => Object.entries(match).every(([k, v]) => l[k] === v);
    return this.history.map(({ t, samples }) => {
      let v = 0;
      for (const s of samples) if (s.name === name && ok(s.labels)) v += s.value;
      return { t, v };
    });
  }

  // rate is the per-second rate of a counter between scrapes (a reset
  // counts from zero).
  rate(name, match) {
    const s = this.sums(name, match);
    const out = [];
    for (let i = 1; i < s.length; i++) {
      const dv = s[i].v >= s[i - 1].v ? s[i].v - s[i - 1].v : s[i].v;
      const dt = (s[i].t - s[i - 1].t) / 1000;
      out.push(dt > 0 ? dv / dt : 0);
    }
    return out;
  }

  // mean is a histogram's mean per interval between scrapes (_sum/_count
  // deltas); null where nothing was observed.
  mean(name, match) {
    const sum = this.sums(name + '_sum', match);
    const cnt = this.sums(name + '_count', match);
    const out = [];
    for (let i = 1; i < sum.length; i++) {
      const dc = cnt[i].v - cnt[i - 1].v;
      out.push(dc > 0 ? (sum[i].v - sum[i - 1].v) / dc : null);
    }
    return out;
  }

  // gauge is the value per scrape.
  gauge(name, match) {
    return this.sums(name, match).map((s) => s.v);
  }
}
