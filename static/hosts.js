// hosts.js - the Hosts view: this host's runtime manifest (GET
// /api/v1/runtime: OS, CPUs, memory, load, disk, agent runtimes, jails,
// Colibri) and the hosts that reported theirs (GET /api/v1/hosts), a
// small fleet.  The fleet reloads on host.reported / host.removed events
// while the view is shown (or when it is shown after one); this host's
// facts are a live measurement, read when the view is shown or on
// Refresh.  Nothing polls.
import { api, el, ago, when, duration } from './api.js';

let visible = false;
let stale = true;
let seq = 0;

function bytes(n) {
  if (n === null || n === undefined) return '–';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < units.length - 1) { x /= 1024; i++; }
  return (i ? x.toFixed(1) : String(x)) + ' ' + units[i];
}

function load(l) {
  return Array.isArray(l) ? l.map((x) => Number(x).toFixed(2)).join(' ')
    : '–';
}

function system(m) {
  const h = (m && m.host) || {};
  return [h.os, h.release, h.arch].filter(Boolean).join(' ');
}

function memory(h) {
  const m = h && h.memory;
  if (!m || !m.total_bytes) return '–';
  const used = m.total_bytes - (m.available_bytes || 0);
  return `${bytes(used)} used of ${bytes(m.total_bytes)}`;
}

function fact(dl, name, value, title) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', { text: name }),
    el('dd', { text: String(value), title: title || null }));
}

function runtimes(list) {
  const found = (list || []).filter((r) => r.found);
  const missing = (list || []).filter((r) => !r.found);
  return el('ul', { class: 'runtimes' },
    found.map((r) => el('li', { dataset: { runtime: r.name },
      title: r.path || null }, el('strong', { text: r.name }), ' ',
    el('span', { text: r.version || 'version unknown' }))),
    missing.length ? el('li', { class: 'missing', text: 'not found: ' +
      missing.map((r) => r.name).join(', ') }) : null);
}

function manifestFacts(m) {
  const h = (m && m.host) || {};
  const dl = el('dl', { class: 'facts' });
  fact(dl, 'System', system(m));
  fact(dl, 'CPUs', h.cpus);
  fact(dl, 'Memory', memory(h));
  fact(dl, 'Load', load(h.load), '1, 5 and 15 minutes');
  if (h.disk) {
    fact(dl, 'Disk', `${bytes(h.disk.available_bytes)} free of ` +
      `${bytes(h.disk.total_bytes)}`, h.disk.path);
  }
  if (m && m.colibri) {
    fact(dl, 'Colibri', `${m.colibri.role || ''} ${m.colibri.version || ''}` +
      (m.colibri.uptime_seconds !== undefined ? ', up ' +
        duration(m.colibri.uptime_seconds) : ''));
  }
  if (Array.isArray(m && m.jails)) {
    fact(dl, 'Jails', m.jails.length ? m.jails.map((j) =>
      j.name || j.jid).join(', ') : 'none');
  }
  return dl;
}

async function showLocal() {
  const box = document.getElementById('host-local');
  try {
    const m = await api('GET', '/runtime');
    const name = (m.host && m.host.name) || 'this host';
    box.textContent = '';
    box.dataset.host = name;
    box.append(el('h3', { text: name }), manifestFacts(m),
      el('h4', { text: 'Agent runtimes' }), runtimes(m.runtimes));
  } catch (e) {
    box.textContent = e.message;
  }
}

function hostRow(h) {
  const m = h.manifest || {};
  return el('li', { class: 'host', dataset: { host: h.name,
    online: h.online ? 'yes' : 'no' } },
  el('span', { class: 'badge', dataset: { state: h.online ? 'done' : 'idle' },
    text: h.online ? 'online' : 'offline' }),
  el('strong', { text: h.name }),
  el('span', { class: 'since', title: when(h.last_seen),
    text: 'seen ' + ago(h.last_seen) + ' ago' }),
  el('span', { text: system(m) }),
  el('span', { text: ((m.host && m.host.cpus) || '?') + ' CPUs' }),
  el('span', { text: 'load ' + load(m.host && m.host.load) }),
  runtimes(m.runtimes));
}

async function showFleet() {
  const mine = ++seq;
  const list = document.getElementById('host-list');
  try {
    const page = await api('GET', '/hosts?limit=1000');
    if (mine !== seq) return;
    stale = false;
    list.textContent = '';
    for (const h of page.items) list.append(hostRow(h));
    if (!page.items.length) {
      list.append(el('li', { class: 'empty', text: 'No host has reported ' +
        'yet (colibri inventory --report).' }));
    }
  } catch (e) {
    if (mine === seq) list.textContent = e.message;
  }
}

// The view was shown (on) or left.
export function showHosts(on) {
  visible = on;
  if (!on) return;
  showLocal();
  if (stale) showFleet();
}

// host.reported / host.removed: the fleet changed.
export function hostsChanged() {
  stale = true;
  if (visible) showFleet();
}

export function initHosts() {
  document.getElementById('host-refresh').addEventListener('click', () => {
    showLocal();
    showFleet();
  });
}
