// Line charts and sparklines drawn as SVG.
const NS = 'http://www.w3.org/2000/svg';

export function svg(tag, attrs = {}, ...children) {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

export function fmt(v, unit = '') {
  if (v == null || Number.isNaN(v)) return '–';
  const a = Math.abs(v);
  let s;
  if (unit === 'B') {
    const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(v) >= 1024 && i < u.length - 1) { v /= 1024; i++; }
    return `${v.toFixed(v >= 100 || i === 0 ? 0 : 1)} ${u[i]}`;
  }
  if (a >= 1e9) s = (v / 1e9).toFixed(1) + 'G';
  else if (a >= 1e6) s = (v / 1e6).toFixed(1) + 'M';
  else if (a >= 1e4) s = (v / 1e3).toFixed(1) + 'k';
  else if (a >= 100 || Number.isInteger(v)) s = v.toFixed(0);
  else s = v.toFixed(a >= 10 ? 1 : 2);
  return unit ? `${s} ${unit}` : s;
}

function points(values, w, h, max, pad) {
  const n = values.length;
  const pts = [];
  values.forEach((v, i) => {
    if (v == null) return;
    const x = n > 1 ? pad + (i * (w - 2 * pad)) / (n - 1) : w / 2;
    const y = h - pad - (max > 0 ? (v / max) * (h - 2 * pad) : 0);
    pts.push(`${x.toFixed(1)},${y.toFixed(1)}`);
  });
  return pts.join(' ');
}

// sparkline is a small line of values (data-values holds them, rounded,
// for whoever wants the numbers).
export function sparkline(values, { width = 120, height = 28, cls = '' } = {}) {
  const max = Math.max(0, ...values.filter((v) => v != null));
  const pts = points(values, width, height, max, 2);
  const s = svg('svg', {
    class: `spark ${cls}`, width, height, viewBox: `0 0 ${width} ${height}`,
    'data-values': values.map((v) => (v == null ? '' : v.toFixed(3))).join(' '),
  });
  if (pts) {
    s.append(svg('polyline', { class: 'spark-area', points: `2,${height - 2} ${pts} ${width - 2},${height - 2}` }));
    s.append(svg('polyline', { class: 'spark-line', points: pts }));
  }
  return s;
}

// chart is a titled line chart of one or more series
// ({label, values, cls}) with the latest value and the scale shown.
export function chart(title, series, { unit = '', width = 360, height = 120 } = {}) {
  const all = series.flatMap((s) => s.values).filter((v) => v != null);
  const max = Math.max(0, ...all);
  const top = max > 0 ? max * 1.1 : 1;
  const pad = 4;
  const g = svg('svg', {
    class: 'chart', viewBox: `0 0 ${width} ${height}`, preserveAspectRatio: 'none',
    'data-values': all.map((v) => v.toFixed(3)).join(' '),
  });
  for (const f of [0.25, 0.5, 0.75]) {
    const y = (height - pad - f * (height - 2 * pad)).toFixed(1);
    g.append(svg('line', { class: 'grid', x1: 0, x2: width, y1: y, y2: y }));
  }
  series.forEach((s, i) => {
    const pts = points(s.values, width, height, top, pad);
    if (pts) g.append(svg('polyline', { class: `line s${i}`, points: pts, 'vector-effect': 'non-scaling-stroke' }));
  });
  const fig = document.createElement('figure');
  fig.className = 'chart-card';
  const cap = document.createElement('figcaption');
  const name = document.createElement('span');
  name.className = 'chart-title';
  name.textContent = title;
  cap.append(name);
  series.forEach((s, i) => {
    const last = [...s.values].reverse().find((v) => v != null);
    const v = document.createElement('span');
    v.className = `chart-value s${i}`;
    v.textContent = `${series.length > 1 ? s.label + ' ' : ''}${fmt(last ?? 0, unit)}`;
    cap.append(v);
  });
  const scale = document.createElement('span');
  scale.className = 'chart-scale';
  scale.textContent = `max ${fmt(max, unit)}`;
  fig.append(cap, g, scale);
  return fig;
}
