// cost.js - the Cost view: cache-hit ratio by day and cost by agent and
// by model, from GET /api/v1/metering/summary, drawn as inline SVG (no
// library, no inline styles: colours come from classes in app.css).
// It reloads when a `metering` event arrives while it is shown, or when
// it is shown after one arrived; nothing polls.
import { api, el } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';
let stale = true;
let visible = false;
let timer = null;
let seq = 0;

function svg(tag, attrs, ...kids) {
  const n = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v !== undefined && v !== null) n.setAttribute(k, String(v));
  }
  for (const kid of kids) {
    if (kid === null || kid === undefined) continue;
    n.append(kid instanceof Node ? kid : document.createTextNode(kid));
  }
  return n;
}

// Amounts are USD (docs/api.md, metering.summary).
export function money(x) {
  if (x === null || x === undefined) return '–';
  const a = Math.abs(x);
  return (x < 0 ? '−$' : '$') + a.toFixed(a >= 100 ? 2 : a >= 1 ? 3 : 4);
}

function pct(x) {
  return x === null || x === undefined ? '–' : (x * 100).toFixed(1) + '%';
}

function tokens(n) {
  if (n >= 1e9) return (n / 1e9).toFixed(2) + 'G';
  if (n >= 1e6) return (n / 1e6).toFixed(2) + 'M';
  if (n >= 1e4) return (n / 1e3).toFixed(1) + 'k';
  return String(n || 0);
}

// Vertical bars, one per day, 0 to 100 %.
function hitChart(items) {
  // A fixed width: the text keeps one size however many days there are.
  const n = items.length;
  const width = 600;
  const left = 44;
  const top = 18;
  const h = 150;
  const slot = Math.min(48, (width - left - 8) / Math.max(1, n));
  const gap = slot / 4;
  const bw = slot - gap;
  const root = svg('svg', { viewBox: `0 0 ${width} ${top + h + 40}`,
    class: 'chart', role: 'img', 'aria-label': 'Cache-hit ratio by day: ' +
      items.map((i) => `${i.key} ${pct(i.hit_ratio)}`).join(', ') });
  root.append(svg('title', {}, 'Cache-hit ratio by day'));
  for (const v of [0, 0.5, 1]) {
    const y = top + h - v * h;
    root.append(svg('line', { x1: left, x2: width, y1: y, y2: y,
      class: 'grid' }));
    root.append(svg('text', { x: left - 6, y: y + 4, class: 'axis',
      'text-anchor': 'end' }, (v * 100) + '%'));
  }
  items.forEach((it, i) => {
    const r = Math.max(0, Math.min(1, it.hit_ratio || 0));
    const x = left + gap + i * (bw + gap);
    const bh = Math.max(1, r * h);
    const g = svg('g', { class: 'point', 'data-key': it.key });
    g.append(svg('rect', { x, y: top + h - bh, width: bw, height: bh,
      class: 'bar hit' }, svg('title', {}, `${it.key}: ${pct(it.hit_ratio)}` +
      ` of ${tokens(it.input_tokens + it.cache_read_tokens +
        it.cache_write_tokens)} prompt tokens, ${it.calls} calls`)));
    if (n <= 20) {
      g.append(svg('text', { x: x + bw / 2, y: top + h - bh - 4,
        class: 'value', 'text-anchor': 'middle' },
      it.hit_ratio === null ? '–' : Math.round(r * 100) + '%'));
    }
    // Day labels: all of them when they fit, else about ten.
    if (n <= 12 || i % Math.ceil(n / 10) === 0 || i === n - 1) {
      g.append(svg('text', { x: x + bw / 2, y: top + h + 16, class: 'axis',
        'text-anchor': 'middle' }, String(it.key).slice(5)));
    }
    root.append(g);
  });
  return root;
}

// Horizontal bars: what was paid, over what it would have cost without
// the cache (the difference is the saving).
function costChart(items, what) {
  const rows = items.slice().sort((a, b) => (b.uncached_cost || b.cost || 0)
    - (a.uncached_cost || a.cost || 0)).slice(0, 20);
  const max = Math.max(1e-9, ...rows.map((r) => Math.max(r.cost || 0,
    r.uncached_cost || 0)));
  const labelW = 170;
  const barW = 340;
  const rowH = 26;
  const width = 600;
  const root = svg('svg', { viewBox: `0 0 ${width} ${rows.length * rowH + 26}`,
    class: 'chart', role: 'img', 'aria-label': `Cost by ${what}: ` +
      rows.map((r) => `${r.key} ${money(r.cost)}`).join(', ') });
  root.append(svg('title', {}, `Cost by ${what}`));
  rows.forEach((r, i) => {
    const y = i * rowH;
    const key = r.key === null || r.key === undefined ? '(none)'
      : String(r.key);
    const g = svg('g', { class: 'point', 'data-key': key });
    g.append(svg('text', { x: labelW - 8, y: y + 17, class: 'axis',
      'text-anchor': 'end' }, key.length > 24 ? key.slice(0, 23) + '…'
      : key));
    const wu = ((r.uncached_cost || 0) / max) * barW;
    const wc = Math.max(1, ((r.cost || 0) / max) * barW);
    g.append(svg('rect', { x: labelW, y: y + 4, width: wu.toFixed(1),
      height: rowH - 8, class: 'bar uncached' },
    svg('title', {}, `${key}: ${money(r.uncached_cost)} without the cache`)));
    g.append(svg('rect', { x: labelW, y: y + 4, width: wc.toFixed(1),
      height: rowH - 8, class: 'bar cost' },
    svg('title', {}, `${key}: paid ${money(r.cost)}, saved ` +
      `${money(r.saving)}, hit ratio ${pct(r.hit_ratio)}, ${r.calls} calls`)));
    g.append(svg('text', { x: labelW + Math.max(wu, wc) + 6, y: y + 17,
      class: 'value' }, money(r.cost)));
    root.append(g);
  });
  const ly = rows.length * rowH + 8;
  root.append(svg('rect', { x: labelW, y: ly, width: 12, height: 12,
    class: 'bar cost' }));
  root.append(svg('text', { x: labelW + 16, y: ly + 11, class: 'axis' },
    'paid'));
  root.append(svg('rect', { x: labelW + 70, y: ly, width: 12, height: 12,
    class: 'bar uncached' }));
  root.append(svg('text', { x: labelW + 86, y: ly + 11, class: 'axis' },
    'without the cache'));
  return root;
}

function totals(t) {
  const table = document.getElementById('cost-total');
  table.textContent = '';
  const rows = [['Calls', t.calls], ['Input tokens', tokens(t.input_tokens)],
    ['Output tokens', tokens(t.output_tokens)],
    ['Cache read tokens', tokens(t.cache_read_tokens)],
    ['Cache write tokens', tokens(t.cache_write_tokens)],
    ['Hit ratio', pct(t.hit_ratio)], ['Cost', money(t.cost)],
    ['Without the cache', money(t.uncached_cost)],
    ['Saving', money(t.saving)], ['Prefix drift', t.prefix_drift]];
  table.append(el('caption', { text: 'Totals for the period' }));
  for (const [k, v] of rows) {
    table.append(el('tr', {}, el('th', { scope: 'row', text: k }),
      el('td', { text: String(v === undefined ? '–' : v) })));
  }
}

function since() {
  const days = document.getElementById('cost-range').days.value;
  if (!days) return '';
  const d = new Date(Date.now() - Number(days) * 86400000);
  d.setUTCHours(0, 0, 0, 0);
  return '&since=' + encodeURIComponent(d.toISOString());
}

function empty(text) {
  const p = document.getElementById('cost-empty');
  p.textContent = text;
  p.hidden = !text;
  document.getElementById('cost-charts').hidden = !!text;
}

async function load() {
  const mine = ++seq;
  stale = false;
  const q = since();
  let day, agent, model;
  try {
    [day, agent, model] = await Promise.all(['day', 'agent', 'model'].map(
      (g) => api('GET', `/metering/summary?group_by=${g}${q}`)));
  } catch (e) {
    if (mine !== seq) return;
    empty(e.status === 404 ? 'Metering is not available on this daemon.'
      : 'Cost: ' + e.message);
    return;
  }
  if (mine !== seq) return;
  if (!day.items.length) {
    empty('No metered calls in this period yet.');
    return;
  }
  empty('');
  const days = day.items.slice().sort((a, b) =>
    String(a.key).localeCompare(String(b.key)));
  document.getElementById('chart-hit').replaceChildren(hitChart(days));
  document.getElementById('chart-agent').replaceChildren(
    costChart(agent.items, 'agent'));
  document.getElementById('chart-model').replaceChildren(
    costChart(model.items, 'model'));
  totals(day.total);
}

export function showCost(shown) {
  visible = shown;
  if (shown && stale) load();
}

// A `metering` event: one reload for a burst of them.
export function meteringChanged() {
  stale = true;
  if (!visible) return;
  clearTimeout(timer);
  timer = setTimeout(load, 500);
}

export function initCost() {
  const f = document.getElementById('cost-range');
  f.addEventListener('submit', (e) => e.preventDefault());
  f.addEventListener('change', () => { stale = true; showCost(visible); });
}
