// app.js - starts the dashboard: views, initial load, and one
// EventSource whose events update the views in place.  Nothing polls.
import { api, listAll } from './api.js';
import { initBoard, setTasks, upsertTask, removeTask, refreshTask }
  from './board.js';
import { initAgents, setAgents, upsertAgent, agentState, removeAgent }
  from './agents.js';
import { initSkills, loadInvalid } from './skills.js';

const TYPES = ['task.created', 'task.updated', 'task.deleted',
  'task.claimed', 'task.released', 'task.completed', 'task.expired',
  'task.heartbeat', 'task.stolen', 'agent.registered', 'agent.updated',
  'agent.removed', 'agent.state', 'skill.changed', 'reset'];

let source = null;
let loaded = false;
let pending = [];

function notice(text) {
  const n = document.getElementById('notice');
  n.textContent = text;
  n.hidden = !text;
  if (text) setTimeout(() => { if (n.textContent === text) n.hidden = true; },
    8000);
}

function setConn(state, text) {
  const c = document.getElementById('conn');
  c.dataset.conn = state;
  c.textContent = text;
}

function showView() {
  const view = (location.hash || '#board').slice(1);
  for (const v of ['board', 'agents', 'skills']) {
    document.getElementById('view-' + v).hidden = v !== view;
    const link = document.querySelector(`nav [data-view=${v}]`);
    if (v === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (view === 'skills') loadInvalid();
}

function taskId(ev) {
  const m = /^task:(\d+)$/.exec(ev.subject || '');
  return m ? Number(m[1]) : null;
}

function apply(type, ev) {
  const d = ev.data || {};
  if (type === 'reset') { load(); return; }
  if (type.startsWith('task.')) {
    const id = taskId(ev);
    if (type === 'task.deleted') { if (id) removeTask(id); return; }
    const t = d.task || (d.id !== undefined && d.title !== undefined ? d
      : null);
    if (t) upsertTask(t);
    else if (id) refreshTask(id);
  } else if (type === 'agent.state') {
    agentState(ev.agent || d.agent, d.to || d.state, ev.time);
  } else if (type === 'agent.removed') {
    removeAgent(ev.agent || d.id);
  } else if (type.startsWith('agent.')) {
    const a = d.agent || d;
    if (a && a.id) upsertAgent(a);
  }
}

function onEvent(e) {
  let ev;
  try { ev = JSON.parse(e.data); } catch { return; }
  if (!loaded) { pending.push([e.type, ev]); return; }
  apply(e.type, ev);
}

function connect() {
  if (source) source.close();
  setConn('connecting', 'connecting…');
  source = new EventSource('/api/v1/events');
  source.onopen = () => setConn('live', 'live');
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setConn('offline', 'offline, retrying');
      setTimeout(connect, 3000);
    } else {
      setConn('connecting', 'reconnecting…');
    }
  };
  for (const t of TYPES) source.addEventListener(t, onEvent);
}

async function load() {
  loaded = false;
  const [tasks, agents] = await Promise.all([listAll('/tasks'),
    listAll('/agents')]);
  setTasks(tasks);
  setAgents(agents);
  loaded = true;
  const queued = pending;
  pending = [];
  for (const [type, ev] of queued) apply(type, ev);
}

async function start() {
  initBoard(notice);
  initAgents();
  initSkills();
  window.addEventListener('hashchange', showView);
  showView();
  try {
    await api('GET', '/status');
  } catch (e) {
    setConn('offline', 'not logged in');
    notice(e.status === 401 ? 'Not logged in: open the one-time login ' +
      'link that colibrid printed at start.' : 'Cannot reach colibrid: ' +
      e.message);
    return;
  }
  connect();   // first, so nothing committed during the load is missed
  try {
    await load();
  } catch (e) {
    notice('Loading: ' + e.message);
  }
  document.body.dataset.ready = 'yes';
}

start();
