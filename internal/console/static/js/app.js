// The console's pages: sign-in, streams, a stream, its data viewer and
// the server's health. Routes live in the URL's fragment.
import { call, all, credentials, setCredentials } from './api.js';
import { Poller } from './metrics.js';
import { sparkline, chart, fmt, svg } from './chart.js';
import { deaggregate } from './kpl.js';

const params = new URLSearchParams(location.search);
const poller = new Poller(Math.max(250, Number(params.get('poll')) || 3000));
const main = document.getElementById('main');
let env = { auth: false, region: 'us-east-1', metrics: true };
// page holds what the current page must undo when another replaces it.
let page = { cleanups: [] };

// h builds an element: h('div.card', {attrs}, children...). Text goes in
// as text nodes, never as HTML.
function h(spec, attrs, ...children) {
  const [tag, ...classes] = spec.split('.');
  const e = document.createElement(tag || 'div');
  if (classes.length) e.className = classes.join(' ');
  if (attrs && (typeof attrs !== 'object' || attrs instanceof Node || Array.isArray(attrs))) {
    children.unshift(attrs);
    attrs = null;
  }
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, '');
    else if (v !== false && v != null) e.setAttribute(k, v);
  }
  for (const c of children.flat(Infinity)) if (c != null && c !== false) e.append(c instanceof Node ? c : String(c));
  return e;
}

function errorBox(e) {
  return h('div.error', { role: 'alert' }, String(e.message || e));
}

function onCleanup(f) {
  page.cleanups.push(f);
}

// every runs f now and every ms while the page lasts; onError gets what
// f throws (a later success should clear it).
function every(ms, f, onError = (e) => console.error(e)) {
  let stopped = false, timer;
  const loop = async () => {
    try { await f(); } catch (e) { if (!stopped) onError(e); }
    if (!stopped) timer = setTimeout(loop, ms);
  };
  loop();
  onCleanup(() => { stopped = true; clearTimeout(timer); });
}

function watchMetrics(f) {
  onCleanup(poller.subscribe(f));
  if (poller.history.length) f(poller);
}

function link(href, text) {
  return h('a', { href }, text);
}

function time(epochSeconds) {
  if (epochSeconds == null) return '–';
  const d = new Date(epochSeconds * 1000);
  return d.toISOString().replace('T', ' ').replace('Z', ' UTC');
}

function arnParts(arn) {
  const p = (arn || '').split(':');
  return { region: p[3], account: p[4] };
}

function badge(status) {
  return h(`span.badge.${String(status).toLowerCase()}`, status);
}

// --- sign-in ---

function login(reason) {
  const c = credentials() || (env.auth ? {} : {
    accessKeyId: 'AKIAIOSFODNN7EXAMPLE',
    secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY',
  });
  const msg = h('div.login-msg');
  if (reason) msg.append(errorBox(reason));
  const form = h('form.login', { id: 'login', autocomplete: 'off' },
    h('h2', 'Sign in'),
    h('p.hint', env.auth
      ? 'This server checks signatures. Enter an access key from its configuration.'
      : 'This server does not check credentials: the example key below signs requests to it.'),
    h('label', 'Access key ID', h('input', { name: 'accessKeyId', required: true, value: c.accessKeyId || '', spellcheck: 'false' })),
    h('label', 'Secret access key', h('input', { name: 'secretAccessKey', type: 'password', required: true, value: c.secretAccessKey || '' })),
    h('label', 'Session token (optional)', h('input', { name: 'sessionToken', value: c.sessionToken || '' })),
    h('label', 'Region', h('input', { name: 'region', required: true, value: c.region || env.region })),
    h('button', { type: 'submit' }, 'Sign in'),
    msg,
    h('p.hint', 'The secret stays in this tab (sessionStorage): it signs requests and is never sent.'));
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(form);
    const cand = {
      accessKeyId: f.get('accessKeyId').trim(),
      secretAccessKey: f.get('secretAccessKey'),
      sessionToken: f.get('sessionToken').trim() || undefined,
      region: f.get('region').trim(),
    };
    msg.replaceChildren(h('span.muted', 'Checking…'));
    try {
      try {
        await call('ListStreams', { Limit: 1 }, cand);
      } catch (e) {
        // Refused by a policy: the key and its signature are good.
        if (e.type !== 'AccessDeniedException') throw e;
      }
      setCredentials(cand);
      if (!location.hash || location.hash === '#/login') location.hash = '#/';
      else route();
    } catch (e) {
      msg.replaceChildren(errorBox(e));
    }
  });
  main.replaceChildren(h('section.center', form));
}

// --- streams ---

async function streamsPage() {
  const table = h('table.streams', h('thead', h('tr',
    h('th', 'Stream'), h('th', 'Status'), h('th', 'Mode'), h('th.num', 'Open shards'),
    h('th', 'Incoming (records/s)'), h('th.num', 'Bytes/s'), h('th', 'Created'))));
  const body = h('tbody');
  table.append(body);
  const status = h('div.errors');
  main.replaceChildren(h('section',
    h('div.page-head', h('h1', 'Streams'), h('span.muted', credentials().region)),
    status, h('div.card', table)));
  const rows = new Map();
  const refresh = async () => {
    const summaries = await all('ListStreams', {}, 'StreamSummaries');
    const seen = new Set();
    for (const s of summaries) {
      seen.add(s.StreamName);
      let r = rows.get(s.StreamName);
      if (!r) {
        r = { arn: s.StreamARN, shards: h('td.num', '…'), spark: h('td.spark-cell'), bytes: h('td.num', '–'),
          status: h('td'), mode: h('td'), created: h('td.muted') };
        r.tr = h('tr', { 'data-stream': s.StreamName }, h('td', link(`#/stream/${encodeURIComponent(s.StreamName)}`, s.StreamName)),
          r.status, r.mode, r.shards, r.spark, r.bytes, r.created);
        rows.set(s.StreamName, r);
        body.append(r.tr);
      }
      r.status.replaceChildren(badge(s.StreamStatus));
      r.mode.textContent = s.StreamModeDetails?.StreamMode || 'PROVISIONED';
      r.created.textContent = time(s.StreamCreationTimestamp);
      call('DescribeStreamSummary', { StreamName: s.StreamName })
        .then((d) => { r.shards.textContent = d.StreamDescriptionSummary.OpenShardCount; })
        .catch(() => { r.shards.textContent = '–'; });
    }
    for (const [name, r] of rows) if (!seen.has(name)) { r.tr.remove(); rows.delete(name); }
    status.replaceChildren(summaries.length ? '' : h('p.empty', 'No streams in this region yet.'));
    draw(poller);
  };
  const draw = (p) => {
    for (const [name, r] of rows) {
      const { account, region } = arnParts(r.arn);
      const match = { stream: name, account, region };
      const recs = p.rate('millrace_kinesis_incoming_records_total', match);
      const bytes = p.rate('millrace_kinesis_incoming_bytes_total', match);
      r.spark.replaceChildren(sparkline(recs, { cls: 'throughput' }), h('span.spark-value', fmt(recs.at(-1) ?? 0)));
      r.bytes.textContent = fmt(bytes.at(-1) ?? 0, 'B');
    }
  };
  every(10000, refresh, (e) => status.replaceChildren(errorBox(e)));
  watchMetrics(draw);
}

// --- one stream ---

// lineage draws shards by hash key range (x) and generation (y).
function lineage(shards) {
  const byId = new Map(shards.map((s) => [s.ShardId, s]));
  const gen = new Map();
  const g = (s) => {
    if (gen.has(s.ShardId)) return gen.get(s.ShardId);
    gen.set(s.ShardId, 0);
    const ps = [s.ParentShardId, s.AdjacentParentShardId].filter((p) => p && byId.has(p));
    const v = ps.length ? 1 + Math.max(...ps.map((p) => g(byId.get(p)))) : 0;
    gen.set(s.ShardId, v);
    return v;
  };
  shards.forEach(g);
  const depth = Math.max(0, ...gen.values()) + 1;
  const W = 1000, rowH = 56, gap = 26, top = 8;
  const H = top + depth * (rowH + gap) - gap + top;
  const full = 2n ** 128n;
  const x = (k) => Number((BigInt(k) * 100000n) / full) / 100000 * W;
  const root = svg('svg', { class: 'lineage', viewBox: `0 0 ${W} ${H}`, 'data-shards': shards.length });
  const box = new Map();
  for (const s of shards) {
    const x0 = x(s.HashKeyRange.StartingHashKey), x1 = x(BigInt(s.HashKeyRange.EndingHashKey) + 1n);
    const y = top + gen.get(s.ShardId) * (rowH + gap);
    box.set(s.ShardId, { x0, x1, y });
  }
  for (const s of shards) {
    const b = box.get(s.ShardId);
    for (const p of [s.ParentShardId, s.AdjacentParentShardId]) {
      const pb = p && box.get(p);
      if (!pb) continue;
      const px = (Math.max(pb.x0, b.x0) + Math.min(pb.x1, b.x1)) / 2;
      const cx = (b.x0 + b.x1) / 2;
      root.append(svg('path', { class: 'edge', d: `M${px},${pb.y + rowH} C${px},${pb.y + rowH + gap} ${cx},${b.y - gap} ${cx},${b.y}` }));
    }
  }
  for (const s of shards) {
    const b = box.get(s.ShardId);
    const closed = !!s.SequenceNumberRange?.EndingSequenceNumber;
    const w = Math.max(2, b.x1 - b.x0 - 4);
    const node = svg('g', { class: `shard-node ${closed ? 'closed' : 'open'}`, 'data-shard-id': s.ShardId });
    const title = svg('title');
    title.textContent = `${s.ShardId}${closed ? ' (closed)' : ''}\nhash keys ${s.HashKeyRange.StartingHashKey} – ${s.HashKeyRange.EndingHashKey}`
      + (s.ParentShardId ? `\nparent ${s.ParentShardId}` : '') + (s.AdjacentParentShardId ? `, ${s.AdjacentParentShardId}` : '');
    node.append(title, svg('rect', { x: b.x0 + 2, y: b.y, width: w, height: rowH, rx: 6 }));
    if (w > 60) {
      const t = svg('text', { x: b.x0 + 2 + w / 2, y: b.y + 24, 'text-anchor': 'middle' });
      t.textContent = s.ShardId.replace(/^shardId-0*(?=\d)/, '#');
      const t2 = svg('text', { x: b.x0 + 2 + w / 2, y: b.y + 42, 'text-anchor': 'middle', class: 'sub' });
      t2.textContent = closed ? 'closed' : 'open';
      node.append(t, t2);
    }
    root.append(node);
  }
  return root;
}

function kv(pairs) {
  return h('dl.kv', pairs.map(([k, v]) => [h('dt', k), h('dd', v)]));
}

async function streamPage(name) {
  const head = h('div.page-head', h('h1', name),
    h('nav.tabs', link(`#/stream/${encodeURIComponent(name)}/data`, 'Data viewer →')));
  const info = h('div.card', h('p.muted', 'Loading…'));
  const graph = h('div.card', h('h2', 'Shards'), h('p.muted', 'Loading…'));
  const charts = h('div.charts');
  const consumers = h('div.card', h('h2', 'Consumers'));
  const tags = h('div.card', h('h2', 'Tags'));
  const errs = h('div.errors');
  main.replaceChildren(h('section', head, errs, info, graph,
    h('div.card', h('h2', 'Metrics'), env.metrics ? charts : h('p.muted', 'GET /metrics is not served on this listener (--metrics off or --metrics-listen): no charts.')),
    h('div.two', consumers, tags)));
  let arn, account, region, consumerList = [];
  const refresh = async () => {
    let d;
    try {
      d = (await call('DescribeStreamSummary', { StreamName: name })).StreamDescriptionSummary;
    } catch (e) {
      info.replaceChildren(errorBox(e));
      return;
    }
    arn = d.StreamARN;
    ({ account, region } = arnParts(arn));
    info.replaceChildren(kv([
      ['Status', badge(d.StreamStatus)],
      ['Capacity mode', d.StreamModeDetails?.StreamMode || 'PROVISIONED'],
      ['Open shards', String(d.OpenShardCount)],
      ['Retention', `${d.RetentionPeriodHours} hours`],
      ['Encryption', d.EncryptionType === 'KMS' ? `KMS (${d.KeyId})` : 'none'],
      ['Enhanced metrics', (d.EnhancedMonitoring?.[0]?.ShardLevelMetrics || []).join(', ') || 'none'],
      ['Created', time(d.StreamCreationTimestamp)],
      ['ARN', h('code', arn)],
    ]));
    const shards = await all('ListShards', { StreamName: name }, 'Shards', ['StreamName']);
    const open = shards.filter((s) => !s.SequenceNumberRange?.EndingSequenceNumber).length;
    graph.replaceChildren(h('h2', 'Shards ', h('span.muted', `${open} open, ${shards.length - open} closed`)),
      lineage(shards), h('div.axis', h('span', '0'), h('span', 'hash key range'), h('span', '2¹²⁸ − 1')));
    consumerList = await all('ListStreamConsumers', { StreamARN: arn }, 'Consumers');
    drawConsumers();
    const t = await call('ListTagsForStream', { StreamName: name });
    tags.replaceChildren(h('h2', 'Tags'), t.Tags?.length
      ? h('table', h('tbody', t.Tags.map((x) => h('tr', h('td', x.Key), h('td', x.Value ?? '')))))
      : h('p.muted', 'No tags.'));
  };
  const drawConsumers = () => {
    consumers.replaceChildren(h('h2', 'Consumers (enhanced fan-out)'), consumerList.length
      ? h('table', h('thead', h('tr', h('th', 'Name'), h('th', 'Status'), h('th', 'Behind latest'), h('th', 'Records/s'))),
        h('tbody', consumerList.map((c) => {
          const m = { account, region, stream: name, consumer: c.ConsumerName };
          const lag = poller.mean('millrace_kinesis_subscribe_to_shard_event_behind_latest_seconds', m).filter((v) => v != null);
          const rate = poller.rate('millrace_kinesis_subscribe_to_shard_event_records_total', m);
          return h('tr', h('td', c.ConsumerName), h('td', badge(c.ConsumerStatus)),
            h('td', lag.length ? fmt(lag.at(-1) * 1000, 'ms') : '–'), h('td', sparkline(rate), ' ', fmt(rate.at(-1) ?? 0)));
        })))
      : h('p.muted', 'No registered consumers.'));
  };
  const draw = (p) => {
    if (!arn) return;
    const m = { account, region, stream: name };
    charts.replaceChildren(
      chart('Incoming records/s', [{ values: p.rate('millrace_kinesis_incoming_records_total', m) }]),
      chart('Incoming bytes/s', [{ values: p.rate('millrace_kinesis_incoming_bytes_total', m) }], { unit: 'B' }),
      chart('GetRecords records/s', [{ values: p.rate('millrace_kinesis_get_records_records_total', m) }]),
      chart('Iterator age (mean)', [{ values: p.mean('millrace_kinesis_get_records_iterator_age_seconds', m).map((v) => (v == null ? null : v * 1000)) }], { unit: 'ms' }),
      chart('Throttled/s', [
        { label: 'write', values: p.rate('millrace_kinesis_write_provisioned_throughput_exceeded_total', m) },
        { label: 'read', values: p.rate('millrace_kinesis_read_provisioned_throughput_exceeded_total', m) },
      ]),
    );
    if (consumerList.length) drawConsumers();
  };
  every(5000, async () => { await refresh(); errs.replaceChildren(); }, (e) => errs.replaceChildren(errorBox(e)));
  watchMetrics(draw);
}

// --- data viewer ---

const decoder = new TextDecoder('utf-8', { fatal: true });

function b64(s) {
  const bin = atob(s || '');
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function hexdump(b) {
  const lines = [];
  for (let i = 0; i < b.length && i < 4096; i += 16) {
    const row = b.subarray(i, i + 16);
    const hx = [...row].map((x) => x.toString(16).padStart(2, '0')).join(' ');
    const asc = [...row].map((x) => (x >= 32 && x < 127 ? String.fromCharCode(x) : '.')).join('');
    lines.push(`${i.toString(16).padStart(6, '0')}  ${hx.padEnd(47)}  ${asc}`);
  }
  if (b.length > 4096) lines.push(`… ${b.length - 4096} more bytes`);
  return lines.join('\n');
}

// show renders data as text, pretty JSON or hex (mode auto picks).
function show(data, mode) {
  let txt = null;
  try { txt = decoder.decode(data); } catch { /* binary */ }
  if (mode === 'hex' || (mode !== 'text' && txt == null)) return h('pre.data.hex', hexdump(data));
  if (txt == null) txt = new TextDecoder().decode(data);
  if (mode !== 'text') {
    const t = txt.trim();
    if (t.startsWith('{') || t.startsWith('[')) {
      try { return h('pre.data.json', JSON.stringify(JSON.parse(t), null, 2)); } catch { /* not JSON */ }
    }
  }
  return h('pre.data.text', txt);
}

async function dataPage(name) {
  const shardSel = h('select', { name: 'shard' });
  const typeSel = h('select', { name: 'type' },
    ['TRIM_HORIZON', 'LATEST', 'AT_SEQUENCE_NUMBER', 'AFTER_SEQUENCE_NUMBER', 'AT_TIMESTAMP'].map((t) => h('option', { value: t }, t.replace(/_/g, ' ').toLowerCase())));
  const seq = h('input', { name: 'sequence', placeholder: 'sequence number', spellcheck: 'false' });
  const ts = h('input', { name: 'timestamp', type: 'datetime-local', step: '1' });
  const modeSel = h('select', { name: 'mode' }, ['auto', 'text', 'json', 'hex'].map((m) => h('option', { value: m }, m)));
  const limit = h('input', { name: 'limit', type: 'number', min: 1, max: 10000, value: 100 });
  const getBtn = h('button', { type: 'submit' }, 'Get records');
  const moreBtn = h('button.secondary', { type: 'button', disabled: true }, 'Next records');
  const status = h('div.status');
  const list = h('div.records');
  const form = h('form.viewer', shardSel, typeSel, seq, ts, h('label.inline', 'Limit', limit), h('label.inline', 'Data as', modeSel), getBtn, moreBtn);
  const syncInputs = () => {
    seq.hidden = !typeSel.value.includes('SEQUENCE');
    ts.hidden = typeSel.value !== 'AT_TIMESTAMP';
  };
  typeSel.addEventListener('change', syncInputs);
  syncInputs();
  main.replaceChildren(h('section',
    h('div.page-head', h('h1', name, h('span.muted', ' · data viewer')),
      h('nav.tabs', link(`#/stream/${encodeURIComponent(name)}`, '← Stream'))),
    h('div.card', form, status), list));
  try {
    const shards = await all('ListShards', { StreamName: name }, 'Shards', ['StreamName']);
    shardSel.replaceChildren(...shards.map((s) => h('option', { value: s.ShardId },
      s.ShardId + (s.SequenceNumberRange?.EndingSequenceNumber ? ' (closed)' : ''))));
  } catch (e) {
    status.replaceChildren(errorBox(e));
    return;
  }
  let iterator = null, lastCall = 0, shown = [], alive = true;
  onCleanup(() => { alive = false; });
  // GetRecords allows 5 calls per second per shard: space them 250 ms.
  const getRecords = async (it, n) => {
    const wait = lastCall + 250 - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    lastCall = performance.now();
    return call('GetRecords', { ShardIterator: it, Limit: Math.min(10000, Math.max(1, n)) });
  };
  const render = () => {
    const mode = modeSel.value;
    list.replaceChildren(...shown.map((r) => {
      const data = b64(r.Data);
      const sub = deaggregate(data);
      const meta = h('div.rec-meta',
        h('span.pk', { title: 'partition key' }, r.PartitionKey),
        h('code.seq', { title: 'sequence number' }, r.SequenceNumber),
        h('span.muted', time(r.ApproximateArrivalTimestamp)),
        h('span.muted', `${data.length} bytes`),
        sub ? h('span.badge.kpl', `KPL aggregate · ${sub.length} records`) : null);
      return h('article.record', { 'data-seq': r.SequenceNumber }, meta, sub
        ? h('ol.sub', sub.map((u, i) => h('li.subrecord', h('div.rec-meta', h('span.muted', `#${i}`), h('span.pk', u.partitionKey),
          u.explicitHashKey ? h('span.muted', `hash key ${u.explicitHashKey}`) : null), show(u.data, mode))))
        : show(data, mode));
    }));
    if (!shown.length) list.replaceChildren(h('p.empty', 'No records.'));
  };
  modeSel.addEventListener('change', render);
  // fetchMore reads until it has Limit records, reaches the tip or the
  // shard's end (at most 10 calls per click).
  const fetchMore = async () => {
    getBtn.disabled = moreBtn.disabled = true;
    try {
      let got = 0, behind = 0;
      const want = Number(limit.value) || 100;
      for (let i = 0; i < 10 && iterator && alive; i++) {
        const out = await getRecords(iterator, want - got);
        iterator = out.NextShardIterator || null;
        behind = out.MillisBehindLatest ?? 0;
        shown = shown.concat(out.Records || []);
        got += (out.Records || []).length;
        if (got >= want || behind === 0) break;
      }
      if (shown.length > 2000) shown = shown.slice(-2000);
      render();
      status.replaceChildren(h('span.muted', `${shown.length} records shown · ${got} new · `
        + (iterator ? `${fmt(behind)} ms behind latest` : 'end of the closed shard')));
    } catch (e) {
      status.replaceChildren(errorBox(e));
    } finally {
      getBtn.disabled = false;
      moreBtn.disabled = !iterator;
    }
  };
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const input = { StreamName: name, ShardId: shardSel.value, ShardIteratorType: typeSel.value };
    if (typeSel.value.includes('SEQUENCE')) input.StartingSequenceNumber = seq.value.trim();
    if (typeSel.value === 'AT_TIMESTAMP') input.Timestamp = ts.value ? new Date(ts.value).getTime() / 1000 : Date.now() / 1000;
    shown = [];
    list.replaceChildren();
    try {
      iterator = (await call('GetShardIterator', input)).ShardIterator;
    } catch (e) {
      status.replaceChildren(errorBox(e));
      return;
    }
    await fetchMore();
  });
  moreBtn.addEventListener('click', fetchMore);
}

// --- server health ---

function uptime(sec) {
  const d = Math.floor(sec / 86400), hr = Math.floor(sec / 3600) % 24, m = Math.floor(sec / 60) % 60;
  if (d) return `${d}d ${hr}h`;
  if (hr) return `${hr}h ${m}m`;
  return `${m}m ${Math.floor(sec % 60)}s`;
}

async function healthPage() {
  const state = h('div.card', h('p.muted', 'Checking /health…'));
  const stats = h('div.stats');
  const charts = h('div.charts');
  const ops = h('div.card');
  main.replaceChildren(h('section', h('div.page-head', h('h1', 'Server')), state,
    env.metrics ? [stats, charts, ops] : h('p.muted', 'GET /metrics is not served on this listener: no server metrics.')));
  every(5000, async () => {
    try {
      const r = await fetch('/health', { cache: 'no-store' });
      const body = await r.json();
      state.replaceChildren(h('div.health', h(`span.dot.${r.ok ? 'ok' : 'bad'}`), h('strong', r.ok ? 'Healthy' : `HTTP ${r.status}`), h('code', JSON.stringify(body))));
    } catch (e) {
      state.replaceChildren(errorBox(e));
    }
  });
  watchMetrics((p) => {
    const last = (n) => p.gauge(n).at(-1);
    const start = last('process_start_time_seconds');
    const stat = (label, value) => h('div.stat', h('div.stat-value', value), h('div.stat-label', label));
    stats.replaceChildren(
      stat('Goroutines', fmt(last('go_goroutines') ?? 0)),
      stat('Open subscriptions', fmt(last('millrace_subscriptions_open') ?? 0)),
      stat('Disk', fmt(last('millrace_storage_disk_bytes') ?? 0, 'B')),
      stat('Resident memory', fmt(last('process_resident_memory_bytes') ?? 0, 'B')),
      stat('Uptime', start ? uptime(Date.now() / 1000 - start) : '–'));
    charts.replaceChildren(
      chart('Requests/s', [{ values: p.rate('millrace_requests_total') }]),
      chart('Goroutines', [{ values: p.gauge('go_goroutines') }]),
      chart('Open subscriptions', [{ values: p.gauge('millrace_subscriptions_open') }]),
      chart('WAL writes', [{ values: p.rate('millrace_storage_wal_bytes_written_total') }], { unit: 'B' }));
    const byOp = new Map();
    for (const s of p.latest()) {
      if (s.name !== 'millrace_requests_total') continue;
      const k = `${s.labels.service} ${s.labels.operation}`;
      const o = byOp.get(k) || { ok: 0, err: 0, service: s.labels.service, op: s.labels.operation };
      if (s.labels.code === 'OK') o.ok += s.value; else o.err += s.value;
      byOp.set(k, o);
    }
    const rows = [...byOp.values()].sort((a, b) => b.ok + b.err - a.ok - a.err);
    ops.replaceChildren(h('h2', 'Requests by operation'), rows.length
      ? h('table', h('thead', h('tr', h('th', 'Service'), h('th', 'Operation'), h('th.num', 'OK'), h('th.num', 'Errors'), h('th', 'Rate'))),
        h('tbody', rows.map((o) => {
          const rate = p.rate('millrace_requests_total', { service: o.service, operation: o.op });
          return h('tr', h('td.muted', o.service), h('td', o.op), h('td.num', fmt(o.ok)), h('td.num', o.err ? fmt(o.err) : '0'), h('td', sparkline(rate), ' ', fmt(rate.at(-1) ?? 0), '/s'));
        })))
      : h('p.muted', 'No requests yet.'));
  });
}

// --- routing ---

// Errors that mean the credentials no longer sign in.
const SIGNED_OUT = new Set(['UnrecognizedClientException', 'InvalidSignatureException',
  'IncompleteSignatureException', 'ExpiredTokenException', 'NotSignedIn']);

function route() {
  for (const f of page.cleanups) f();
  page = { cleanups: [] };
  const parts = location.hash.replace(/^#\/?/, '').split('/').map(decodeURIComponent);
  const who = document.getElementById('who');
  const c = credentials();
  who.replaceChildren(c ? h('span', h('code', c.accessKeyId), ' · ', c.region, ' ',
    h('button.link', { onclick: () => { setCredentials(null); route(); } }, 'Sign out')) : '');
  for (const a of document.querySelectorAll('header nav a')) {
    a.classList.toggle('active', a.getAttribute('href') === `#/${parts[0] === 'stream' ? '' : parts[0]}`);
  }
  if (parts[0] === 'health') return healthPage();
  if (!c) return login();
  const run = parts[0] === 'stream' && parts[1]
    ? (parts[2] === 'data' ? dataPage(parts[1]) : streamPage(parts[1]))
    : streamsPage();
  run.catch((e) => {
    if (SIGNED_OUT.has(e.type)) {
      setCredentials(null);
      login(e);
    } else main.replaceChildren(errorBox(e));
  });
}

async function startConsole() {
  try {
    env = await (await fetch('env.json', { cache: 'no-store' })).json();
  } catch { /* defaults */ }
  if (env.metrics) poller.start();
  window.addEventListener('hashchange', route);
  route();
}

startConsole();
