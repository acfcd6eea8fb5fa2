// app.js - starts the dashboard: views, initial load, and one
// EventSource whose events update the views in place.  Nothing polls.
import { api, listAll } from './api.js';
import { initBoard, setTasks, upsertTask, removeTask, refreshTask }
  from './board.js';
import { initAgents, setAgents, upsertAgent, agentState, removeAgent,
  agentTouched, refreshAgent } from './agents.js';
import { initSkills, showSkills, skillsChanged } from './skills.js';
import { initCost, showCost, meteringChanged } from './cost.js';
import { initHosts, showHosts, hostsChanged } from './hosts.js';

const TYPES = ['task.created', 'task.updated', 'task.deleted',
  'task.claimed', 'task.released', 'task.completed', 'task.expired',
  'task.heartbeat', 'task.stolen', 'agent.registered', 'agent.updated',
  'agent.removed', 'agent.state', 'session.start', 'session.end',
  'metering', 'prompt.drift', 'skill.changed', 'host.reported',
  'host.removed', 'reset'];
const VIEWS = ['board', 'agents', 'skills', 'cost', 'hosts'];

let source = null;
let loaded = false;
let pending = [];
let authed = false;   // views load their data only once logged in

// A message under the header: a problem (kind 'error', the default,
// announced as an alert) or news such as "spawned" (kind 'info').
function notice(text, kind = 'error') {
  const n = document.getElementById('notice');
  n.dataset.kind = kind;
  n.setAttribute('role', kind === 'error' ? 'alert' : 'status');
  n.textContent = text;
  n.hidden = !text;
  if (text) setTimeout(() => { if (n.textContent === text) n.hidden = true; },
    8000);
}

function setConn(state, text) {
  const c = document.getElementById('conn');
  c.dataset.conn = state;
  c.textContent = text;
  document.getElementById('reconnect').hidden = state !== 'offline';
}

function showView() {
  let view = (location.hash || '#board').slice(1);
  if (!VIEWS.includes(view)) view = 'board';
  for (const v of VIEWS) {
    document.getElementById('view-' + v).hidden = v !== view;
    const link = document.querySelector(`nav [data-view=${v}]`);
    if (v === view) link.setAttribute('aria-current', 'page');
    else link.removeAttribute('aria-current');
  }
  if (!authed) return;
  if (view === 'skills') showSkills();
  showCost(view === 'cost');
  showHosts(view === 'hosts');
}

function taskId(ev) {
  const m = /^task:(\d+)$/.exec(ev.subject || '');
  return m ? Number(m[1]) : null;
}

function apply(type, ev) {
  const d = ev.data || {};
  if (type === 'reset') { load(); meteringChanged(); return; }
  if (type.startsWith('task.')) {
    const id = taskId(ev);
    if (type === 'task.deleted') { if (id) removeTask(id); return; }
    const t = d.task || (d.id !== undefined && d.title !== undefined ? d
      : null);
    if (t) upsertTask(t);
    else if (id) refreshTask(id);
  } else if (type === 'agent.state') {
    agentState(ev.agent || d.agent, d.to || d.state, ev.time, d.substate,
      d.reason);
  } else if (type === 'metering') {
    meteringChanged();
    agentTouched(ev.agent || d.agent);
  } else if (type.startsWith('session.')) {
    refreshAgent(ev.agent || d.agent);   // also refreshes its panel
  } else if (type.startsWith('host.')) {
    hostsChanged();
  } else if (type === 'skill.changed') {
    skillsChanged();
  } else if (type === 'prompt.drift') {
    agentTouched(ev.agent || d.agent);
  } else if (type === 'agent.removed') {
    removeAgent(ev.agent || d.id);
  } else if (type.startsWith('agent.')) {
    const a = d.agent || d;
    if (a && a.id) upsertAgent(a);
  }
}

// The id of the last event taken.  The browser's own reconnection sends
// it as Last-Event-ID; when the stream was closed for good (an error
// answer) a new EventSource would not, so connect() puts it in the URL.
// That URL then stays for the browser's later reconnections, which would
// replay from it: events at or below the id are skipped.
let lastId = 0;

function onEvent(e) {
  const id = Number(e.lastEventId);
  // A reset carries no id (lastEventId then repeats the previous one),
  // and the ids after it may start lower (a new database): start over.
  if (e.type === 'reset') lastId = 0;
  else if (id) {
    if (id <= lastId) return;
    lastId = id;
  }
  let ev;
  try { ev = JSON.parse(e.data); } catch { return; }
  if (!loaded) { pending.push([e.type, ev]); return; }
  apply(e.type, ev);
}

// The live stream, for the browser test (it closes it to see the page
// resume from the last event id).
export function stream() {
  return source;
}

let retry = null;

function connect() {
  clearTimeout(retry);
  if (source) source.close();
  setConn('connecting', 'connecting…');
  source = new EventSource('/api/v1/events' +
    (lastId ? '?last_event_id=' + lastId : ''));
  source.onopen = () => setConn('live', 'live');
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      setConn('offline', 'offline, retrying');
      retry = setTimeout(connect, 3000);
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
  const t0 = performance.now();
  setTasks(tasks);
  setAgents(agents);
  // How long building the board took (read by the browser test).
  document.body.dataset.renderMs = Math.round(performance.now() - t0);
  loaded = true;
  const queued = pending;
  pending = [];
  for (const [type, ev] of queued) apply(type, ev);
}

async function start() {
  initBoard(notice);
  initAgents(notice);
  initSkills();
  initCost();
  initHosts();
  window.addEventListener('hashchange', showView);
  document.getElementById('reconnect').addEventListener('click', connect);
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
  authed = true;
  showView();
  connect();   // first, so nothing committed during the load is missed
  try {
    await load();
  } catch (e) {
    notice('Loading: ' + e.message);
  }
  document.body.dataset.ready = 'yes';
}

start();
