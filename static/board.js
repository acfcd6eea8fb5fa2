// board.js - the task board: columns by status, one card per task,
// updated card by card from events (no full re-render after load).
import { api, el, duration, when } from './api.js';

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

// Cards are built with plain DOM calls and their buttons carry only a
// data-act: one listener on the board handles every click (a board of
// 1,000 cards is built in one pass; see docs/dashboard.md, Budget).
function node(tag, cls, text) {
  const n = document.createElement(tag);
  if (cls) n.className = cls;
  if (text !== undefined) n.textContent = text;
  return n;
}

function button(act, text, cls, label) {
  const b = node('button', cls, text);
  b.type = 'button';
  b.dataset.act = act;
  if (label) b.setAttribute('aria-label', label);
  return b;
}

function buildCard(t) {
  const deps = t.depends_on || [];
  const ready = isReady(t);
  const card = node('li', 'card');
  card.dataset.card = t.id;
  card.dataset.priority = t.priority;
  const title = node('h3', 'title', t.title);
  title.dataset.taskId = t.id;
  const meta = node('p', 'meta');
  meta.append(node('span', 'id', '#' + t.id),
    node('span', 'prio p' + t.priority, 'P' + t.priority));
  if (t.status === 'todo') {
    meta.append(node('span', ready ? 'ready' : 'waiting',
      ready ? 'ready' : 'waiting'));
  }
  for (const l of t.labels || []) meta.append(node('span', 'label', l));
  if (t.assignee) meta.append(node('span', 'assignee', '@' + t.assignee));
  card.append(title, meta);
  if (deps.length) {
    const p = node('p', 'deps', 'Depends on');
    for (const d of deps) p.append(depChip(d));
    card.append(p);
  }
  if (t.lease && t.lease.expires_at) {
    const p = node('p', 'lease', 'Lease: ');
    const cd = node('span', 'countdown', countdown(t.lease.expires_at));
    cd.dataset.expires = t.lease.expires_at;
    p.append(node('strong', null, t.lease.holder || '?'), ' · ', cd);
    card.append(p);
  }
  const actions = node('div', 'actions');
  if (t.status === 'todo') {
    const claim = button('claim', 'Claim');
    claim.disabled = !ready;
    actions.append(claim);
  }
  if (t.status === 'in_progress') {
    actions.append(button('release', 'Release'),
      button('complete', 'Complete'));
  }
  actions.append(button('edit', 'Edit', 'secondary', `Edit task #${t.id}`));
  card.append(actions);
  return card;
}

function onBoardClick(e) {
  const b = e.target.closest('button[data-act]');
  const card = b && b.closest('[data-card]');
  if (!card) return;
  const t = tasks.get(Number(card.dataset.card));
  if (!t) return;
  if (b.dataset.act === 'edit') openEditor(t.id);
  else act(b.dataset.act, t);
}

// One dependency: its id, and whether it is done as far as the board
// knows (a dependency that is not on the board is shown as unknown).
function depChip(id) {
  const d = tasks.get(id);
  const done = d && d.status === 'done';
  return el('span', { class: 'dep ' + (done ? 'dep-done' : 'dep-open'),
    title: d ? `#${id} ${d.title} (${d.status})` : `#${id}`,
    dataset: { dep: id } }, '#' + id + (done ? ' ✓' : d ? ' · ' +
    d.status.replace('_', ' ') : ''));
}

// The filter form's values, read once per pass (not once per card).
function filters() {
  const f = new FormData(document.getElementById('filters'));
  return { q: (f.get('q') || '').trim().toLowerCase(),
    label: (f.get('label') || '').trim(),
    assignee: (f.get('assignee') || '').trim(),
    prio: f.get('priority'), ready: f.get('ready') === 'on' };
}

function matches(t, { q, label, assignee, prio, ready } = filters()) {
  if (ready && !isReady(t)) return false;
  if (q && !(t.title.toLowerCase().includes(q) ||
    (t.body || '').toLowerCase().includes(q))) return false;
  if (label && !(t.labels || []).includes(label)) return false;
  if (assignee && t.assignee !== assignee &&
      !(t.lease && t.lease.holder === assignee)) return false;
  if (prio !== '' && prio !== null && String(t.priority) !== prio)
    return false;
  return true;
}

// Only the cards that pass the filters are in the document; the others
// are left out rather than hidden.  (Hiding hundreds of cards that use
// content-visibility costs Chromium a second of layout; replacing a
// column's children costs a few milliseconds.)  A card is built when it
// is first shown and kept until its task changes.
function cardOf(t) {
  let c = cards.get(t.id);
  if (!c) {
    c = buildCard(t);
    cards.set(t.id, c);
  }
  return c;
}

// Puts the card of t in its column at its place (by priority, then id),
// or takes it out when the filters leave it out.  The column is sorted,
// so the place is found by bisection.
function place(t, f = filters()) {
  const old = cards.get(t.id);
  if (old) old.remove();
  cards.delete(t.id);
  if (!matches(t, f)) return;
  const card = cardOf(t);
  const list = lists[t.status] || lists.todo;
  const kids = list.children;
  let lo = 0;
  let hi = kids.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const o = tasks.get(Number(kids[mid].dataset.card));
    if (o && order(o, t) < 0) lo = mid + 1;
    else hi = mid;
  }
  list.insertBefore(card, kids[lo] || null);
}

function recount() {
  const total = {};
  for (const s of STATUSES) total[s] = 0;
  for (const t of tasks.values()) total[t.status in total ? t.status
    : 'todo']++;
  for (const s of STATUSES) {
    const shown = lists[s].children.length;
    counts[s].textContent = shown === total[s] ? String(shown)
      : `${shown} of ${total[s]}`;
  }
}

export function upsertTask(t) {
  const cur = tasks.get(t.id);
  if (cur && cur.version > t.version) return;  // an older event
  tasks.set(t.id, t);
  const f = filters();
  place(t, f);
  editorSaw(t);
  if (!cur || cur.status !== t.status || cur.title !== t.title) {
    for (const other of tasks.values()) {
      if ((other.depends_on || []).includes(t.id)) place(other, f);
    }
  }
  recount();
}

export function removeTask(id) {
  tasks.delete(id);
  editorSaw({ id, deleted: true });
  const c = cards.get(id);
  if (c) c.remove();
  cards.delete(id);
  recount();
}

// Fills every column with the cards of the tasks that pass the filters;
// a column whose cards did not change is not touched.
function fill() {
  const f = filters();
  const by = {};
  for (const s of STATUSES) by[s] = [];
  for (const t of tasks.values()) {
    if (matches(t, f)) (by[t.status] || by.todo).push(t);
  }
  for (const s of STATUSES) {
    const want = by[s].sort(order);
    const kids = lists[s].children;
    if (want.length === kids.length &&
        want.every((t, i) => cards.get(t.id) === kids[i])) continue;
    lists[s].replaceChildren(...want.map(cardOf));
  }
  recount();
}

export function setTasks(items) {
  tasks.clear();
  cards.clear();
  for (const t of items) tasks.set(t.id, t);
  fill();
}

export async function refreshTask(id) {
  try {
    upsertTask(await api('GET', `/tasks/${id}`));
  } catch (e) {
    if (e.status === 404) removeTask(id);
  }
}

// Typing in the filters runs one pass per frame, not one per key.
let filterFrame = 0;

function applyFilters() {
  filterFrame = 0;
  fill();
}

function scheduleFilters() {
  if (!filterFrame) filterFrame = requestAnimationFrame(applyFilters);
}

// --- The task editor: a modal <dialog> over the board -----------------
// It keeps the task as it was when opened (its version goes in If-Match),
// so a change someone else made meanwhile is refused with 412 and the
// editor reloads the task instead of overwriting that change.

let editing = null;   // the task document the form was filled from

const EDITABLE = ['todo', 'blocked', 'review', 'done', 'cancelled'];

function ids(text) {
  return [...new Set(String(text || '').split(/[\s,#]+/).filter(Boolean)
    .map(Number))];
}

function fillEditor(t) {
  const d = document.getElementById('task-dialog');
  const f = document.getElementById('task-edit');
  editing = t;
  d.querySelector('.tid').textContent = '#' + t.id;
  f.title.value = t.title;
  f.body.value = t.body || '';
  f.priority.value = String(t.priority);
  f.assignee.value = t.assignee || '';
  f.labels.value = (t.labels || []).join(', ');
  f.depends_on.value = (t.depends_on || []).join(', ');
  f.status.textContent = '';
  const statuses = EDITABLE.includes(t.status) ? EDITABLE
    : [t.status, ...EDITABLE];
  for (const st of statuses) {
    f.status.append(el('option', { value: st, selected: st === t.status,
      disabled: st === 'in_progress' }, LABELS[st]));
  }
  d.querySelector('.info').textContent = `Version ${t.version} · ` +
    (t.ready ? 'ready · ' : '') + (t.lease ? 'leased by ' + t.lease.holder +
    ' until ' + when(t.lease.expires_at) + ' · ' : '') + 'attempt ' +
    (t.attempt || 0) + ' · updated ' + when(t.updated_at);
  d.querySelector('.changed').hidden = true;
}

function editorError(text) {
  const p = document.querySelector('#task-dialog .error');
  p.textContent = text || '';
  p.hidden = !text;
}

export async function openEditor(id) {
  const d = document.getElementById('task-dialog');
  editorError('');
  let t = tasks.get(id);
  try {
    t = await api('GET', `/tasks/${id}`);   // the body is not in events
    upsertTask(t);
  } catch (e) {
    if (!t) { notify(`Task #${id}: ${e.message}`); return; }
  }
  fillEditor(t);
  if (!d.open) d.showModal();
  document.getElementById('task-edit').title.focus();
}

// Called for every task the board learns about: tells the person editing
// that the task moved on (saving would then get 412).
function editorSaw(t) {
  if (!editing || editing.id !== t.id) return;
  const p = document.querySelector('#task-dialog .changed');
  if (t.deleted) {
    p.textContent = 'This task was deleted meanwhile.';
  } else if (t.version > editing.version) {
    p.textContent = `This task changed meanwhile (now version ${t.version}).`
      + ' Saving will reload it instead of overwriting that change.';
  } else {
    return;
  }
  p.hidden = false;
}

async function saveEditor() {
  const f = document.getElementById('task-edit');
  const t = editing;
  const patch = {};
  const title = f.title.value.trim();
  if (title !== t.title) patch.title = title;
  if (f.body.value !== (t.body || '')) patch.body = f.body.value;
  if (Number(f.priority.value) !== t.priority)
    patch.priority = Number(f.priority.value);
  const assignee = f.assignee.value.trim() || null;
  if (assignee !== (t.assignee || null)) patch.assignee = assignee;
  const labels = f.labels.value.split(',').map((x) => x.trim())
    .filter(Boolean);
  if (labels.join('\n') !== (t.labels || []).join('\n')) patch.labels = labels;
  if (f.status.value !== t.status) patch.status = f.status.value;
  const want = ids(f.depends_on.value);
  const have = t.depends_on || [];
  if (want.some((n) => !Number.isInteger(n) || n < 1)) {
    editorError('Depends on: task ids, separated by commas.');
    return;
  }
  let cur = t;
  try {
    if (Object.keys(patch).length) {
      cur = await api('PATCH', `/tasks/${t.id}`, patch,
        { 'If-Match': `"${t.version}"` });
      upsertTask(cur);
    }
    for (const dep of want.filter((n) => !have.includes(n))) {
      cur = await api('POST', `/tasks/${t.id}/deps`, { depends_on: dep });
      upsertTask(cur);
    }
    for (const dep of have.filter((n) => !want.includes(n))) {
      cur = await api('DELETE', `/tasks/${t.id}/deps/${dep}`);
      upsertTask(cur);
    }
  } catch (e) {
    if (e.status === 412 || e.problem.code === 'version_conflict') {
      const fresh = await api('GET', `/tasks/${t.id}`).catch(() => null);
      if (fresh) { upsertTask(fresh); fillEditor(fresh); }
      editorError('Someone changed this task meanwhile: it has been ' +
        'reloaded. Nothing was saved; make your change again.');
    } else {
      if (cur !== t) fillEditor(cur);
      editorError(e.message);
    }
    return;
  }
  editing = null;
  document.getElementById('task-dialog').close();
  notify('');
}

async function deleteEditing() {
  const t = editing;
  try {
    await api('DELETE', `/tasks/${t.id}`, undefined,
      { 'If-Match': `"${t.version}"` });
    removeTask(t.id);
    editing = null;
    document.getElementById('task-dialog').close();
  } catch (e) {
    if (e.status === 412) {
      const fresh = await api('GET', `/tasks/${t.id}`).catch(() => null);
      if (fresh) { upsertTask(fresh); fillEditor(fresh); }
      editorError('Someone changed this task meanwhile: it has been ' +
        'reloaded. Nothing was deleted.');
    } else {
      editorError(e.message);
    }
  }
}

function initEditor() {
  const d = document.getElementById('task-dialog');
  const f = document.getElementById('task-edit');
  f.addEventListener('submit', (e) => { e.preventDefault(); saveEditor(); });
  d.querySelector('[data-act=cancel]').addEventListener('click', () =>
    d.close());
  d.querySelector('[data-act=delete]').addEventListener('click',
    deleteEditing);
  d.addEventListener('close', () => { editing = null; });
}

export function initBoard(onNotice) {
  initEditor();
  notify = onNotice;
  const root = document.getElementById('columns');
  root.addEventListener('click', onBoardClick);
  for (const s of STATUSES) {
    counts[s] = el('span', { class: 'count', text: '0' });
    lists[s] = el('ol', { class: 'cards', 'aria-label': LABELS[s] });
    root.append(el('section', { class: 'column', dataset: { status: s } },
      el('h3', {}, LABELS[s], ' ', counts[s]), lists[s]));
  }
  document.getElementById('filters').addEventListener('input',
    scheduleFilters);
  // The agent name for claims is remembered in this browser.
  const who = document.querySelector('#filters [name=agent]');
  try {
    who.value = localStorage.getItem('colibri.agent') || '';
    who.addEventListener('change', () =>
      localStorage.setItem('colibri.agent', who.value.trim()));
  } catch { /* storage disabled: the field just starts empty */ }
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
