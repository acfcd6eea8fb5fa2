// board.js - the task board: columns by status, one card per task,
// updated card by card from events (no full re-render after load).
import { api, el, duration } from './api.js';

const STATUSES = ['todo', 'in_progress', 'blocked', 'review', 'done',
  'cancelled'];
const LABELS = { todo: 'To do', in_progress: 'In progress',
  blocked: 'Blocked', review: 'Review', done: 'Done',
  cancelled: 'Cancelled' };

const tasks = new Map();   // id -> task document
const cards = new Map();   // id -> card element
const lists = {};          // status -> <ol>
const counts = {};         // status -> count element
let notify = () => {};

function order(a, b) {
  return (a.priority - b.priority) || (a.id - b.id);
}

function agentName() {
  const v = document.querySelector('#filters [name=agent]').value.trim();
  return v || 'dashboard';
}

async function act(what, task) {
  const holder = task.lease && task.lease.holder;
  const body = { agent: what === 'claim' ? agentName() : (holder ||
    agentName()) };
  if (what !== 'claim' && task.attempt) body.attempt = task.attempt;
  try {
    const out = await api('POST', `/tasks/${task.id}/${what}`, body);
    if (out && out.outcome === 'denied') notify(`Claim of #${task.id} denied`);
  } catch (e) {
    notify(`${what} #${task.id}: ${e.message}`);
  }
}

function leaseText(task) {
  if (!task.lease || !task.lease.expires_at) return null;
  return el('p', { class: 'lease' }, 'Lease: ',
    el('strong', { text: task.lease.holder || '?' }), ' · ',
    el('span', { class: 'countdown', dataset: {
      expires: task.lease.expires_at } }, countdown(task.lease.expires_at)));
}

function countdown(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  return s > 0 ? duration(s) + ' left' : 'expired';
}

// Ready = todo with every dependency done.  The server says so when the
// task is sent; a dependency finishing later sends no event for this
// task, so what the board knows of the dependencies decides then.
function isReady(t) {
  if (t.status !== 'todo') return false;
  const deps = t.depends_on || [];
  if (deps.every((d) => tasks.has(d)))
    return deps.every((d) => tasks.get(d).status === 'done');
  return t.ready !== false;
}

function buildCard(t) {
  const deps = (t.depends_on || []);
  const ready = isReady(t);
  const buttons = [];
  if (t.status === 'todo') {
    buttons.push(el('button', { type: 'button', disabled: !ready,
      onclick: () => act('claim', t) }, 'Claim'));
  }
  if (t.status === 'in_progress') {
    buttons.push(el('button', { type: 'button',
      onclick: () => act('release', t) }, 'Release'));
    buttons.push(el('button', { type: 'button',
      onclick: () => act('complete', t) }, 'Complete'));
  }
  return el('li', { class: 'card', dataset: { card: t.id,
    priority: t.priority } },
    el('h3', { class: 'title', dataset: { taskId: t.id }, text: t.title }),
    el('p', { class: 'meta' },
      el('span', { class: 'id', text: '#' + t.id }),
      el('span', { class: 'prio p' + t.priority, text: 'P' + t.priority }),
      t.status === 'todo' ? el('span', { class: ready ? 'ready' : 'waiting',
        text: ready ? 'ready' : 'waiting' }) : null,
      ...(t.labels || []).map((l) => el('span', { class: 'label',
        text: l })),
      t.assignee ? el('span', { class: 'assignee',
        text: '@' + t.assignee }) : null),
    deps.length ? el('p', { class: 'deps',
      text: 'Depends on ' + deps.map((d) => '#' + d).join(', ') }) : null,
    leaseText(t),
    buttons.length ? el('div', { class: 'actions' }, buttons) : null);
}

// The filter form's values, read once per pass (not once per card).
function filters() {
  const f = new FormData(document.getElementById('filters'));
  return { q: (f.get('q') || '').trim().toLowerCase(),
    label: (f.get('label') || '').trim(),
    assignee: (f.get('assignee') || '').trim(),
    prio: f.get('priority') };
}

function matches(t, { q, label, assignee, prio } = filters()) {
  if (q && !(t.title.toLowerCase().includes(q) ||
    (t.body || '').toLowerCase().includes(q))) return false;
  if (label && !(t.labels || []).includes(label)) return false;
  if (assignee && t.assignee !== assignee &&
      !(t.lease && t.lease.holder === assignee)) return false;
  if (prio !== '' && prio !== null && String(t.priority) !== prio)
    return false;
  return true;
}

// Puts the card of t in its column at its place (by priority, then id).
function place(t) {
  const old = cards.get(t.id);
  const card = buildCard(t);
  card.hidden = !matches(t);
  const list = lists[t.status] || lists.todo;
  if (old) old.remove();
  let before = null;
  for (const other of list.children) {
    const o = tasks.get(Number(other.dataset.card));
    if (o && order(t, o) < 0) { before = other; break; }
  }
  list.insertBefore(card, before);
  cards.set(t.id, card);
}

function recount() {
  for (const s of STATUSES) counts[s].textContent = lists[s].children.length;
}

export function upsertTask(t) {
  const cur = tasks.get(t.id);
  if (cur && cur.version > t.version) return;  // an older event
  tasks.set(t.id, t);
  place(t);
  if (!cur || cur.status !== t.status) {
    for (const other of tasks.values()) {
      if (other.status === 'todo' && (other.depends_on || []).includes(t.id))
        place(other);
    }
  }
  recount();
}

export function removeTask(id) {
  tasks.delete(id);
  const c = cards.get(id);
  if (c) c.remove();
  cards.delete(id);
  recount();
}

export function setTasks(items) {
  tasks.clear();
  cards.clear();
  const frag = {};
  for (const s of STATUSES) { lists[s].textContent = ''; frag[s] = []; }
  items.sort(order);
  const f = filters();
  for (const t of items) {
    tasks.set(t.id, t);
    const card = buildCard(t);
    card.hidden = !matches(t, f);
    cards.set(t.id, card);
    (frag[t.status] || frag.todo).push(card);
  }
  for (const s of STATUSES) lists[s].append(...frag[s]);
  recount();
}

export async function refreshTask(id) {
  try {
    upsertTask(await api('GET', `/tasks/${id}`));
  } catch (e) {
    if (e.status === 404) removeTask(id);
  }
}

function applyFilters() {
  const f = filters();
  for (const [id, card] of cards) card.hidden = !matches(tasks.get(id), f);
}

export function initBoard(onNotice) {
  notify = onNotice;
  const root = document.getElementById('columns');
  for (const s of STATUSES) {
    counts[s] = el('span', { class: 'count', text: '0' });
    lists[s] = el('ol', { class: 'cards', 'aria-label': LABELS[s] });
    root.append(el('section', { class: 'column', dataset: { status: s } },
      el('h3', {}, LABELS[s], ' ', counts[s]), lists[s]));
  }
  document.getElementById('filters').addEventListener('input', applyFilters);
  document.getElementById('filters').addEventListener('submit',
    (e) => e.preventDefault());
  const form = document.getElementById('new-task');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const f = new FormData(form);
    const body = { title: f.get('title').trim(),
      priority: Number(f.get('priority')) };
    const labels = f.get('labels').split(',').map((s) => s.trim())
      .filter(Boolean);
    if (labels.length) body.labels = labels;
    const deps = f.get('depends_on').split(/[\s,]+/).filter(Boolean)
      .map(Number);
    if (deps.length) body.depends_on = deps;
    try {
      upsertTask(await api('POST', '/tasks', body));
      form.reset();
      form.title.focus();
    } catch (err) {
      notify('Create task: ' + err.message);
    }
  });
  setInterval(() => {
    for (const n of document.querySelectorAll('.countdown')) {
      n.textContent = countdown(n.dataset.expires);
    }
  }, 1000);
}
