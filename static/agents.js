// agents.js - every agent with its glasspane state as a badge; a detail
// panel (time in state, current task, process and restarts, the state
// timeline, the last lines of output, kill and restart); the spawn form.
// The panel refreshes when an event about its agent arrives: nothing polls.
import { api, el, ago, when } from './api.js';

const SVG = 'http://www.w3.org/2000/svg';
const agents = new Map();   // id -> agent document
const rows = new Map();     // id -> <li>
let notify = () => {};
let selected = null;        // id of the agent in the detail panel
let detailTimer = null;
let detailSeq = 0;

function restarts(a) {
  return a.process && a.process.restarts ? a.process.restarts : 0;
}

function build(a) {
  const p = a.process || {};
  return el('li', { class: 'agent', dataset: { agent: a.id,
    selected: a.id === selected ? 'yes' : null } },
    el('span', { class: 'badge', dataset: { agentId: a.id,
      state: a.state || 'idle' }, title: a.reason || null,
    text: a.state || 'idle' }),
    a.substate ? el('span', { class: 'substate', text: a.substate }) : null,
    el('button', { type: 'button', class: 'name link',
      'aria-label': `Details of agent ${a.id}`,
      onclick: () => selectAgent(a.id) }, a.id),
    el('span', { class: 'kind', text: a.kind || '' }),
    el('span', { class: 'since', dataset: { since: a.state_since || '' },
      text: a.state_since ? 'for ' + ago(a.state_since) : '' }),
    el('span', { class: 'task', text: a.current_task ?
      'task #' + a.current_task : 'no task' }),
    restarts(a) ? el('span', { class: 'restarts',
      text: restarts(a) + (restarts(a) === 1 ? ' restart' : ' restarts') })
      : null,
    p.exit_status !== null && p.exit_status !== undefined ?
      el('span', { class: 'exit', text: 'exit ' + p.exit_status }) : null,
    el('span', { class: a.online === false ? 'offline' : 'online',
      text: a.online === false ? 'offline' : 'online' }));
}

function place(a) {
  const list = document.getElementById('agents');
  const row = build(a);
  const old = rows.get(a.id);
  if (old) old.replaceWith(row);
  else {
    let before = null;
    for (const r of list.children) {
      if (r.dataset.agent > a.id) { before = r; break; }
    }
    list.insertBefore(row, before);
  }
  rows.set(a.id, row);
}

export function setAgents(items) {
  agents.clear();
  rows.clear();
  document.getElementById('agents').textContent = '';
  for (const a of items) upsertAgent(a);
  if (selected) {
    if (agents.has(selected)) refreshDetail();
    else closeDetail();
  }
}

// transition: a is the stream's state change (applied as it comes).
export function upsertAgent(a, transition = false) {
  const cur = agents.get(a.id);
  if (cur && a.version !== undefined && cur.version > a.version) return;
  const next = { ...cur, ...a };
  // State changes do not move an agent's version: a document read before
  // a transition the stream has already applied must not undo it.
  if (!transition && cur && cur.state_since && a.state_since &&
      Date.parse(a.state_since) <= Date.parse(cur.state_since)) {
    for (const k of ['state', 'state_since', 'substate', 'reason'])
      next[k] = cur[k];
  }
  agents.set(a.id, next);
  place(agents.get(a.id));
  if (a.id === selected) refreshDetail();
}

// A transition from the event stream; its reason and sub-status (such as
// `retrying`) are kept for the row until the next one.
export function agentState(id, to, when, substate, reason) {
  const cur = agents.get(id) || { id, kind: '' };
  upsertAgent({ ...cur, state: to, state_since: when,
    substate: substate || '', reason: reason || '' }, true);
}

export function removeAgent(id) {
  agents.delete(id);
  const r = rows.get(id);
  if (r) r.remove();
  rows.delete(id);
  if (id === selected) closeDetail();
}

// An event naming an agent (a session, a metered call): the panel's
// output and process may have changed.
export function agentTouched(id) {
  if (id && id === selected) refreshDetail();
}

// A run started or ended: the agent's process (pid, exit status,
// restarts) changed without an agent event, so its document is read.
export async function refreshAgent(id) {
  if (!id) return;
  try {
    upsertAgent(await api('GET', `/agents/${encodeURIComponent(id)}`));
  } catch (e) {
    if (e.status === 404) removeAgent(id);
  }
}

// --- The detail panel --------------------------------------------------

function selectAgent(id) {
  const old = selected && rows.get(selected);
  if (old) delete old.dataset.selected;
  selected = id;
  const row = rows.get(id);
  if (row) row.dataset.selected = 'yes';
  const panel = document.getElementById('agent-detail');
  panel.hidden = false;
  panel.dataset.agent = id;
  panel.querySelector('.timeline').textContent = '';
  panel.querySelector('.timeline-bar').textContent = '';
  panel.querySelector('.output').textContent = 'Loading…';
  loadDetail().then(() => panel.querySelector('h3').focus());
}

function closeDetail() {
  const row = selected && rows.get(selected);
  if (row) delete row.dataset.selected;
  const name = selected;
  selected = null;
  document.getElementById('agent-detail').hidden = true;
  const back = name && rows.get(name);
  if (back) back.querySelector('button.name').focus();
}

// Events come in bursts (a run is many transitions): one reload for all.
function refreshDetail() {
  clearTimeout(detailTimer);
  detailTimer = setTimeout(loadDetail, 150);
}

async function optional(path) {
  try {
    return await api('GET', path);
  } catch (e) {
    if (e.status === 404) return null;
    throw e;
  }
}

async function loadDetail() {
  const id = selected;
  if (!id) return;
  const mine = ++detailSeq;
  const enc = encodeURIComponent(id);
  let state, proc, out;
  try {
    [state, proc, out] = await Promise.all([
      api('GET', `/agents/${enc}/state?limit=50`),
      optional(`/agents/${enc}/process`),
      lastOutput(id)]);
  } catch (e) {
    if (mine === detailSeq) notify(`Agent ${id}: ${e.message}`);
    return;
  }
  if (mine !== detailSeq || id !== selected) return;
  renderDetail(agents.get(id) || { id }, state, proc, out);
}

function fact(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', { text: name }), el('dd', {}, value));
}

function renderDetail(a, state, proc, out) {
  const panel = document.getElementById('agent-detail');
  const h = panel.querySelector('h3');
  h.textContent = '';
  h.tabIndex = -1;
  h.append(el('span', { class: 'badge', dataset: { state: state.state },
    text: state.state }), ' ', a.id);
  const dl = panel.querySelector('.facts');
  dl.textContent = '';
  fact(dl, 'In this state', state.state_since ?
    el('span', { class: 'since', dataset: { since: state.state_since },
      title: state.state_since }, 'for ' + ago(state.state_since)) : null);
  fact(dl, 'Kind', a.kind);
  fact(dl, 'Host', a.host);
  fact(dl, 'Current task', a.current_task ? '#' + a.current_task +
    ((a.tasks || []).length > 1 ? ` (and ${a.tasks.length - 1} more)` : '')
    : 'none');
  fact(dl, 'Last seen', a.last_seen ? el('span', { title: a.last_seen },
    when(a.last_seen) + (a.online === false ? ' (offline)' : '')) : null);
  if (proc) {
    fact(dl, 'Runner', proc.runner);
    fact(dl, 'Process', proc.running ? 'running, pid ' + proc.pid
      : 'not running' + (proc.stopped ? ' (stopped)' : ''));
    fact(dl, 'Exit status', proc.exit_status === null ? null
      : String(proc.exit_status));
    fact(dl, 'Restarts', `${proc.restarts} of at most ${proc.max_restarts}`);
    fact(dl, 'Last error', proc.last_error);
    if (proc.jail) fact(dl, 'Jail', JSON.stringify(proc.jail));
  } else {
    fact(dl, 'Process', 'not started by this daemon');
    fact(dl, 'Restarts', String(restarts(a)));
  }
  panel.querySelector('[data-act=kill]').disabled = !(proc && proc.running);
  panel.querySelector('[data-act=restart]').disabled = !proc;
  renderTimeline(panel, state);
  panel.querySelector('.out-source').textContent = out.source;
  const pre = panel.querySelector('.output');
  pre.textContent = out.lines.length ? out.lines.join('\n') : '(none)';
  pre.scrollTop = pre.scrollHeight;
}

// The history comes newest first; the bar runs oldest to newest, each
// state as wide as it lasted (the current one until now).
function renderTimeline(panel, state) {
  const list = panel.querySelector('.timeline');
  list.textContent = '';
  const hist = state.history || [];
  for (const t of hist) {
    list.append(el('li', {},
      el('time', { datetime: t.time, title: t.time }, when(t.time)), ' ',
      el('span', { class: 'badge small', dataset: { state: t.from },
        text: t.from }), ' → ',
      el('span', { class: 'badge small', dataset: { state: t.to },
        text: t.to }), ' ',
      el('span', { class: 'reason', text: t.reason +
        (t.substate ? ' (' + t.substate + ')' : '') })));
  }
  if (!hist.length) list.append(el('li', { text: 'No transitions yet.' }));
  const bar = panel.querySelector('.timeline-bar');
  bar.textContent = '';
  const steps = hist.slice().reverse();
  if (!steps.length) return;
  const start = Date.parse(steps[0].time);
  const end = Math.max(Date.now(), start + 1);
  const svg = document.createElementNS(SVG, 'svg');
  svg.setAttribute('viewBox', '0 0 1000 24');
  svg.setAttribute('preserveAspectRatio', 'none');
  svg.setAttribute('role', 'img');
  svg.setAttribute('aria-label', 'States over time: ' +
    steps.map((s) => s.to).join(', '));
  steps.forEach((s, i) => {
    const t0 = Date.parse(s.time);
    const t1 = i + 1 < steps.length ? Date.parse(steps[i + 1].time) : end;
    const x = ((t0 - start) / (end - start)) * 1000;
    const w = Math.max(2, ((t1 - t0) / (end - start)) * 1000);
    const r = document.createElementNS(SVG, 'rect');
    r.setAttribute('x', x.toFixed(1));
    r.setAttribute('y', '0');
    r.setAttribute('width', w.toFixed(1));
    r.setAttribute('height', '24');
    r.setAttribute('class', 'st-' + s.to);
    const title = document.createElementNS(SVG, 'title');
    title.textContent = `${s.to} from ${s.time}`;
    r.append(title);
    svg.append(r);
  });
  bar.append(svg);
}

// One line of a session, for people: what was said or done, or what
// Colibri noted (spawn, state, exit).  null for lines that add nothing
// (streaming deltas and message starts: the message_end that follows
// carries the whole text).
export function summarize(e) {
  if (e === null || typeof e !== 'object') return String(e);
  const text = (m) => (m && Array.isArray(m.content) ? m.content : [])
    .filter((c) => c && c.type === 'text').map((c) => c.text).join(' ');
  if (typeof e.colibri === 'string') {
    switch (e.colibri) {
    case 'spawn':
      return `· spawned pid ${e.pid} (runner ${e.runner}` +
        (e.restarts ? `, restart ${e.restarts}` : '') + ')';
    case 'state':
      return `· ${e.from} → ${e.to}` + (e.reason ? ` (${e.reason})` : '');
    case 'exit':
      return `· exit ${e.exit_status}` + (e.state ? ` (${e.state})` : '');
    default: {
      const { colibri, time, ...rest } = e;
      return `· ${colibri} ${JSON.stringify(rest)}`;
    }
    }
  }
  switch (e.type) {
  case 'message_update':
  case 'message_start':
  case 'turn_end':
    return null;
  case 'message_end':
    return (e.message && e.message.role || 'message') + ': ' +
      text(e.message);
  case 'tool_execution_start':
    return `tool ${e.toolName} ${JSON.stringify(e.args || {})}`;
  case 'tool_execution_end':
    return `tool ${e.toolName} ${e.isError ? 'failed' : 'done'}` +
      (e.result ? ': ' + text(e.result) : '');
  case 'session':
    return `session ${e.id || ''}` + (e.cwd ? ` in ${e.cwd}` : '');
  case 'agent_start':
  case 'turn_start':
    return e.type.replace('_', ' ');
  case 'agent_end': {
    const last = (e.messages || []).slice(-1)[0];
    return 'agent end' + (last && last.stopReason ? ' (' + last.stopReason +
      ')' : '');
  }
  default: {
    const s = JSON.stringify(e);
    return s.length > 160 ? s.slice(0, 157) + '…' : s;
  }
  }
}

const KEEP = 30;

// The last lines of the agent's newest session (GET /sessions?agent=ID
// lists newest first; then its entries page by page), or, where the
// daemon has no sessions API, the stderr tail agent.process keeps.
async function lastOutput(id) {
  const enc = encodeURIComponent(id);
  const list = await optional(`/sessions?agent=${enc}&limit=1`);
  if (list && list.items && list.items.length) {
    const s = list.items[0];   // newest first
    const lines = [];
    let after = null;
    for (let page = 0; page < 20; page++) {
      const q = `/sessions/${s.id}/entries?limit=500` +
        (after ? '&after=' + encodeURIComponent(after) : '');
      const res = await optional(q);
      if (!res) break;
      for (const it of res.items) {
        const line = summarize(it.entry);
        if (line === null) continue;
        lines.push(line);
        if (lines.length > KEEP) lines.shift();
      }
      after = res.next;
      // An open session always has a next cursor: stop at its end.
      if (!after || res.items.length === 0) break;
    }
    return { source: `(session #${s.id}, ${s.lines} lines)`, lines };
  }
  const proc = await optional(`/agents/${enc}/process`);
  const tail = proc && proc.stderr ? proc.stderr.split('\n')
    .filter(Boolean).slice(-KEEP) : [];
  return { source: '(stderr)', lines: tail };
}

async function kill() {
  const id = selected;
  try {
    await api('POST', `/agents/${encodeURIComponent(id)}/kill`,
      { grace_seconds: 5 });
    notify(`Agent ${id}: stopping`, 'info');
  } catch (e) {
    notify(`Kill ${id}: ${e.message}`);
  }
  refreshDetail();
}

async function restart() {
  const id = selected;
  try {
    const r = await api('POST', `/agents/${encodeURIComponent(id)}/restart`);
    notify(`Agent ${id}: restarted, pid ${r.pid}`, 'info');
  } catch (e) {
    notify(`Restart ${id}: ${e.message}`);
  }
  refreshDetail();
}

// --- Spawning ----------------------------------------------------------

// Arguments as a shell would split them, quotes included, but nothing
// else of a shell (the daemon never runs one).
export function splitArgs(text) {
  const out = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  let m;
  while ((m = re.exec(text)) !== null) {
    out.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, '$1')
      : m[2] !== undefined ? m[2] : m[3]);
  }
  return out;
}

async function spawn(form) {
  const f = new FormData(form);
  const v = (k) => String(f.get(k) || '').trim();
  const body = { runner: v('runner') };
  if (v('id')) body.id = v('id');
  const args = splitArgs(v('args'));
  if (args.length) body.args = args;
  if (v('prompt')) body.prompt = v('prompt');
  if (v('task_id')) body.task_id = Number(v('task_id'));
  const jail = {};
  for (const k of ['name', 'path', 'ip4', 'user']) {
    if (v('jail_' + k)) jail[k] = v('jail_' + k);
  }
  if (Object.keys(jail).length) body.jail = jail;
  try {
    const r = await api('POST', '/agents/spawn', body);
    notify(`Spawned ${r.id} (pid ${r.pid})`, 'info');
    form.id.value = '';
    selectAgent(r.id);
  } catch (e) {
    notify('Spawn: ' + e.message);
  }
}

export function initAgents(onNotice) {
  notify = onNotice || notify;
  const panel = document.getElementById('agent-detail');
  panel.querySelector('[data-act=kill]').addEventListener('click', kill);
  panel.querySelector('[data-act=restart]').addEventListener('click',
    restart);
  panel.querySelector('[data-act=close]').addEventListener('click',
    closeDetail);
  panel.addEventListener('keydown', (e) => {
    if (e.key === 'Escape') closeDetail();
  });
  const form = document.getElementById('spawn-form');
  form.addEventListener('submit', (e) => { e.preventDefault(); spawn(form); });
  setInterval(() => {
    for (const n of document.querySelectorAll('#view-agents .since')) {
      if (n.dataset.since) n.textContent = 'for ' + ago(n.dataset.since);
    }
  }, 1000);
}
