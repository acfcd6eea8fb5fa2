// agents.js - every agent with its glasspane state as a badge.
import { el, ago } from './api.js';

const agents = new Map();   // id -> agent document
const rows = new Map();     // id -> <li>

function build(a) {
  return el('li', { class: 'agent', dataset: { agent: a.id } },
    el('span', { class: 'badge', dataset: { agentId: a.id,
      state: a.state || 'idle' }, text: a.state || 'idle' }),
    el('strong', { class: 'name', text: a.id }),
    el('span', { class: 'kind', text: a.kind || '' }),
    el('span', { class: 'since', dataset: { since: a.state_since || '' },
      text: a.state_since ? 'for ' + ago(a.state_since) : '' }),
    el('span', { class: 'task', text: a.current_task ?
      'task #' + a.current_task : 'no task' }),
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
}

export function upsertAgent(a) {
  const cur = agents.get(a.id);
  if (cur && a.version !== undefined && cur.version > a.version) return;
  agents.set(a.id, { ...cur, ...a });
  place(agents.get(a.id));
}

export function agentState(id, to, when) {
  const cur = agents.get(id) || { id, kind: '' };
  upsertAgent({ ...cur, state: to, state_since: when });
}

export function removeAgent(id) {
  agents.delete(id);
  const r = rows.get(id);
  if (r) r.remove();
  rows.delete(id);
}

export function initAgents() {
  setInterval(() => {
    for (const n of document.querySelectorAll('#agents .since')) {
      if (n.dataset.since) n.textContent = 'for ' + ago(n.dataset.since);
    }
  }, 1000);
}
