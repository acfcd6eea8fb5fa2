// skills.js - search as you type (snippets arrive HTML-escaped, with
// <mark> around the hits), every skill when the box is empty, one skill's
// SKILL.md and files, and the list of invalid skills.
import { api, el, listAll } from './api.js';

let timer = null;
let seq = 0;
let fileSeq = 0;

function hitItem(name, description, snippetHtml) {
  const li = el('li', { dataset: { skill: name } },
    el('button', { type: 'button', class: 'name link',
      'aria-label': `Open skill ${name}`, onclick: () => openSkill(name) },
    name), ' ',
    el('span', { class: 'desc', text: description || '' }));
  if (snippetHtml !== undefined) {
    const snippet = el('p', { class: 'snippet' });
    snippet.innerHTML = snippetHtml || '';   // escaped by the server
    li.append(snippet);
  }
  return li;
}

async function search(q) {
  const mine = ++seq;
  const out = document.getElementById('skill-hits');
  try {
    if (!q) {
      const all = await listAll('/skills', 1000);
      if (mine !== seq) return;
      out.textContent = '';
      for (const s of all) out.append(hitItem(s.name, s.description));
      if (!all.length) out.append(el('li', { text: 'No skills.' }));
      return;
    }
    const res = await api('GET', '/skills/search?q=' + encodeURIComponent(q));
    if (mine !== seq) return;   // a newer query is on its way
    out.textContent = '';
    for (const hit of res.items) {
      out.append(hitItem(hit.name, hit.description, hit.snippet));
    }
    if (!res.items.length) out.append(el('li', { text: 'No match.' }));
  } catch (e) {
    if (mine === seq) out.textContent = e.message;
  }
}

export async function loadInvalid() {
  const list = document.getElementById('skill-invalid');
  try {
    const res = await api('GET', '/skills?invalid=true');
    list.textContent = '';
    for (const s of res.items) {
      const reasons = s.reasons || [s.reason || s.error || 'invalid'];
      list.append(el('li', {}, el('strong', { text: s.name || s.path }),
        ' ', el('span', { class: 'path', text: s.path || '' }),
        el('ul', {}, reasons.map((r) => el('li', { text: r })))));
    }
    if (!res.items.length) list.append(el('li', { text: 'None.' }));
  } catch (e) {
    list.textContent = e.message;
  }
}

// Called when the Skills view is shown.
export function showSkills() {
  loadInvalid();
  search(document.getElementById('skill-search').q.value.trim());
}

// A skill.changed event (a rescan, a skill written): the view, if shown,
// reads the catalog again; otherwise it will when it is opened.
export function skillsChanged() {
  if (!document.getElementById('view-skills').hidden) showSkills();
}

function fact(dl, name, value) {
  if (value === null || value === undefined || value === '') return;
  dl.append(el('dt', { text: name }), el('dd', { text: String(value) }));
}

export async function openSkill(name) {
  const panel = document.getElementById('skill-detail');
  const enc = encodeURIComponent(name);
  let s;
  try {
    s = await api('GET', `/skills/${enc}`);
  } catch (e) {
    panel.hidden = false;
    panel.querySelector('h3').textContent = name;
    panel.querySelector('.desc').textContent = e.message;
    return;
  }
  panel.hidden = false;
  panel.dataset.skill = s.name;
  const h = panel.querySelector('h3');
  h.textContent = s.name;
  h.tabIndex = -1;
  panel.querySelector('.desc').textContent = s.description || '';
  const dl = panel.querySelector('.facts');
  dl.textContent = '';
  const fm = s.front_matter || {};
  fact(dl, 'License', fm.license);
  fact(dl, 'Compatibility', fm.compatibility);
  fact(dl, 'Allowed tools', fm['allowed-tools']);
  for (const [k, v] of Object.entries(fm.metadata || {})) fact(dl, k, v);
  fact(dl, 'Folder', s.path);
  // The body is text: shown as it is written, never as HTML.
  panel.querySelector('.skill-body').textContent = s.body || '';
  const files = panel.querySelector('.files');
  files.textContent = '';
  for (const f of s.files || []) {
    files.append(el('li', {}, f.type === 'file'
      ? el('button', { type: 'button', class: 'link',
        onclick: () => openFile(s.name, f.path) }, f.path)
      : el('span', { text: f.path + (f.type === 'dir' ? '/' : '') }),
    f.size !== undefined && f.type === 'file' ?
      el('span', { class: 'size', text: ` ${f.size} bytes` }) : null));
  }
  if (s.files_truncated) files.append(el('li', { text: '… (truncated)' }));
  panel.querySelector('.file-name').hidden = true;
  panel.querySelector('.file-content').hidden = true;
  h.focus();
}

async function openFile(name, path) {
  const mine = ++fileSeq;
  const panel = document.getElementById('skill-detail');
  const head = panel.querySelector('.file-name');
  const pre = panel.querySelector('.file-content');
  const url = `/skills/${encodeURIComponent(name)}/files/` +
    path.split('/').map(encodeURIComponent).join('/');
  let text;
  try {
    const f = await api('GET', url);
    text = f.content !== undefined ? f.content
      : `(binary, ${f.size} bytes: not shown)`;
  } catch (e) {
    text = e.message;
  }
  if (mine !== fileSeq) return;
  head.textContent = path;
  head.hidden = false;
  pre.textContent = text;
  pre.hidden = false;
  pre.focus();
}

export function initSkills() {
  const form = document.getElementById('skill-search');
  form.addEventListener('submit', (e) => e.preventDefault());
  form.q.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(() => search(form.q.value.trim()), 120);
  });
}
