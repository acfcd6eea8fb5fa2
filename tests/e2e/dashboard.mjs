// dashboard.mjs - the dashboard in a real browser (Debian's chromium,
// driven by playwright-core; no browser download), against a colibrid
// that tests/api/test_dashboard.py started.  Environment:
//   COLIBRI_LOGIN_URL  the one-time login URL from the daemon's log
//   COLIBRI_URL        http://127.0.0.1:PORT
//   COLIBRI_TOKEN      the API token (to act as automation would)
//   COLIBRI_PI_EVENTS  a pi JSONL transcript that ends in "done"
//   COLIBRI_OUT        folder for screenshots
//   CHROMIUM           the browser (default /usr/bin/chromium)
//   COLIBRI_E2E_STRICT 1: fail when a time budget is missed (else the
//                      times are printed, and only 10x the budget fails)
// Prints one line per check ("ok N - ..." or "skip - ..."), a JSON line of
// measurements, and exits 1 on the first failure.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const env = process.env;
const base = env.COLIBRI_URL;
const out = env.COLIBRI_OUT;
const auth = { Authorization: 'Bearer ' + env.COLIBRI_TOKEN };
const WITHIN = Number(env.COLIBRI_E2E_WITHIN_MS || 1000);
const measures = {};
let passed = 0;

async function call(method, p, body, type = 'application/json') {
  const init = { method, headers: { ...auth } };
  if (body !== undefined) {
    init.headers['Content-Type'] = type;
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
  }
  const res = await fetch(base + '/api/v1' + p, init);
  const text = await res.text();
  if (!res.ok) throw new Error(`${method} ${p}: ${res.status} ${text}`);
  return text ? JSON.parse(text) : null;
}

function skip(name, why) {
  console.log(`skip - ${name}: ${why}`);
}

// Resolves when fn() (run in the page) is true; fails after ms.
function until(page, fn, arg, ms = 5000) {
  return page.waitForFunction(fn, arg, { timeout: ms });
}

function ok(name, extra = '') {
  passed++;
  console.log(`ok ${passed} - ${name}${extra ? ' (' + extra + ')' : ''}`);
}

async function shot(page, name, fullPage = true) {
  const file = path.join(out, `dashboard-${name}.png`);
  await page.screenshot({ path: file, fullPage });
  console.log(`# screenshot ${file}`);
}

const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'colibri-e2e-'));
const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: env.CHROMIUM || '/usr/bin/chromium',
  headless: true,
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
    '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync'],
  viewport: { width: 1280, height: 800 },
});
let failed = false;
try {
  const page = context.pages()[0] || await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // The browser logs every 4xx answer as an error; the page expects
  // some (a 412 it recovers from, a 404 for an optional operation or an
  // agent that was not spawned), so only other statuses count.
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server .*status of (404|412) /.test(m.text()))
      errors.push(m.text());
  });
  let bytes = 0;
  page.on('response', async (r) => {
    const len = Number((await r.allHeaders())['content-length'] || 0);
    bytes += len;
  });

  // 1. Login through the one-time URL: lands on / without the code.
  await page.goto(env.COLIBRI_LOGIN_URL);
  await page.waitForSelector('body[data-ready=yes]', { timeout: 10000 });
  if (page.url() !== base + '/') throw new Error('landed on ' + page.url());
  ok('login lands on / without the code', page.url());
  measures.first_load_bytes = bytes;
  if (bytes > 100 * 1024) throw new Error(`first load ${bytes} bytes`);
  await page.waitForSelector('#conn[data-conn=live]', { timeout: 5000 });
  await page.waitForSelector('.column[data-status=todo]');
  ok('board and live connection shown');
  const cookies = await context.cookies(base);
  const sess = cookies.find((c) => c.name === 'colibri_session');
  if (!sess || !sess.httpOnly || sess.sameSite !== 'Strict')
    throw new Error('session cookie flags: ' + JSON.stringify(sess));
  ok('session cookie is HttpOnly, SameSite=Strict');

  // 2. A task created through the API appears without reload.
  const t0 = Date.now();
  const task = await call('POST', '/tasks', { title: 'From the API e2e',
    priority: 1, labels: ['e2e'] });
  await page.waitForFunction((id) => {
    const n = document.querySelector(`[data-task-id="${id}"]`);
    return n && n.textContent === 'From the API e2e';
  }, task.id, { timeout: 10000 });
  measures.api_task_to_board_ms = Date.now() - t0;
  if (measures.api_task_to_board_ms > WITHIN)
    throw new Error(`task took ${measures.api_task_to_board_ms} ms`);
  ok('API task appears on the board', measures.api_task_to_board_ms + ' ms');

  // The stream ends (as when the browser gives up after an error
  // answer): the indicator says so; a task created meanwhile arrives once
  // the page reconnects from its last event id (here at once, through the
  // Reconnect button; else after 3 s), without reload.
  await page.evaluate(async () => {
    const app = await import('/app.js');
    const s = app.stream();
    s.close();
    s.onerror();   // what the browser reports when it closes a stream
  });
  await page.waitForSelector('#conn[data-conn=offline]', { timeout: 5000 });
  const conn = await page.textContent('#conn');
  const during = await call('POST', '/tasks', { title: 'While offline' });
  await page.click('#reconnect');
  await page.waitForSelector('#conn[data-conn=live]', { timeout: 10000 });
  await page.waitForSelector(`[data-task-id="${during.id}"]`,
    { timeout: 5000 });
  ok('a closed stream resumes from the last event id, no reload',
    `indicator said "${conn}"`);

  // 3. A task created through the form.
  await page.fill('#new-task [name=title]', 'From the UI form');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => [...document.querySelectorAll(
    '[data-task-id]')].some((n) => n.textContent === 'From the UI form'),
    null, { timeout: 5000 });
  const listed = await call('GET', '/tasks');
  if (!listed.items.some((t) => t.title === 'From the UI form'))
    throw new Error('the form did not create the task');
  ok('task created through the form');

  // Readiness follows the dependencies without reload.
  const dep = await call('POST', '/tasks', { title: 'Dependency' });
  const waiting = await call('POST', '/tasks', { title: 'Waits',
    depends_on: [dep.id] });
  await page.waitForSelector(`[data-card="${waiting.id}"] .waiting`,
    { timeout: 5000 });
  await call('POST', `/tasks/${dep.id}/claim`, { agent: 'e2e-bot' });
  await call('POST', `/tasks/${dep.id}/complete`, { agent: 'e2e-bot' });
  await page.waitForSelector(`[data-card="${waiting.id}"] .ready`,
    { timeout: 5000 });
  ok('a dependency done makes its dependent ready');

  // Edit a task in the UI (If-Match with its version); the API sees it.
  const edit = await call('POST', '/tasks', { title: 'Edit me', priority: 3,
    labels: ['e2e'] });
  const blocker = await call('POST', '/tasks', { title: 'Blocker' });
  await page.waitForSelector(`[data-card="${edit.id}"]`);
  await page.click(`[data-card="${edit.id}"] button:text("Edit")`);
  await page.waitForSelector('#task-dialog[open]');
  await page.fill('#task-edit [name=title]', 'Edited in the UI');
  await page.fill('#task-edit [name=body]', 'A body\nwritten in the dialog');
  await page.selectOption('#task-edit [name=priority]', '0');
  await page.fill('#task-edit [name=labels]', 'e2e, edited');
  await page.fill('#task-edit [name=depends_on]', String(blocker.id));
  await page.click('#task-edit button[type=submit]');
  await page.waitForSelector('#task-dialog:not([open])',
    { state: 'attached', timeout: 5000 });
  let got = await call('GET', `/tasks/${edit.id}`);
  if (got.title !== 'Edited in the UI' || got.priority !== 0 ||
      got.labels.join() !== 'e2e,edited' || got.body !==
      'A body\nwritten in the dialog' ||
      got.depends_on.join() !== String(blocker.id))
    throw new Error('edit not stored: ' + JSON.stringify(got));
  await until(page, (id) => {
    const c = document.querySelector(`[data-card="${id}"]`);
    return c && c.querySelector('[data-task-id]').textContent ===
      'Edited in the UI' && c.querySelector('.waiting') &&
      c.querySelector(`[data-dep]`);
  }, edit.id);
  ok('task edited in the dialog (title, body, priority, labels, deps)',
    'version ' + got.version);

  // Someone else changes it while the dialog is open: saving gets 412,
  // the dialog reloads the task and says so; nothing is overwritten.
  await page.click(`[data-card="${edit.id}"] button:text("Edit")`);
  await page.waitForSelector('#task-dialog[open]');
  await call('PATCH', `/tasks/${edit.id}`, { version: got.version,
    title: 'Changed elsewhere' });
  await page.waitForSelector('#task-dialog .changed:not([hidden])',
    { timeout: 5000 });
  await page.selectOption('#task-edit [name=priority]', '4');
  await page.click('#task-edit button[type=submit]');
  await page.waitForSelector('#task-dialog .error:not([hidden])',
    { timeout: 5000 });
  const reloaded = await page.inputValue('#task-edit [name=title]');
  got = await call('GET', `/tasks/${edit.id}`);
  if (reloaded !== 'Changed elsewhere' || got.priority !== 0 ||
      got.title !== 'Changed elsewhere')
    throw new Error(`412 not handled: form ${reloaded}, task ` +
      JSON.stringify(got));
  await page.selectOption('#task-edit [name=priority]', '1');
  await page.fill('#task-edit [name=depends_on]', '');
  await page.click('#task-edit button[type=submit]');
  await page.waitForSelector('#task-dialog:not([open])',
    { state: 'attached', timeout: 5000 });
  got = await call('GET', `/tasks/${edit.id}`);
  if (got.priority !== 1 || got.depends_on.length)
    throw new Error('save after reload: ' + JSON.stringify(got));
  ok('a stale edit gets 412: the dialog reloads, then saves');
  await shot(page, 'edit-conflict-resolved');

  // Filters: label, then search, then priority.
  await page.fill('#filters [name=label]', 'edited');
  await until(page, (id) => {
    const shown = [...document.querySelectorAll('.card')];
    return shown.length === 1 && shown[0].dataset.card === String(id);
  }, edit.id);
  await page.fill('#filters [name=label]', '');
  await page.fill('#filters [name=q]', 'changed elsewhere');
  await until(page, () => document.querySelectorAll('.card').length === 1);
  await page.fill('#filters [name=q]', '');
  await page.selectOption('#filters [name=priority]', '1');
  await until(page, () => {
    const p1 = [...document.querySelectorAll('.card')]
      .map((c) => c.dataset.priority);
    return p1.length === 2 && p1.every((x) => x === '1');
  });
  await page.selectOption('#filters [name=priority]', '');
  ok('filters by label, search and priority narrow the board');

  // Claim through the UI (the lease holder and countdown show).
  await page.fill('#filters [name=agent]', 'e2e-human');
  await page.click(`[data-card="${task.id}"] button:text("Claim")`);
  await page.waitForSelector(
    `.column[data-status=in_progress] [data-task-id="${task.id}"]`,
    { timeout: 5000 });
  await page.waitForSelector(`[data-card="${task.id}"] .countdown`);
  ok('claim from the board moves the card, with lease countdown');
  const holder = await page.textContent(`[data-card="${task.id}"] .lease strong`);
  if (holder !== 'e2e-human') throw new Error('lease holder ' + holder);
  await page.click(`[data-card="${task.id}"] button:text("Release")`);
  await page.waitForSelector(
    `.column[data-status=todo] [data-task-id="${task.id}"]`,
    { timeout: 5000 });
  await page.click(`[data-card="${task.id}"] button:text("Claim")`);
  await page.waitForSelector(`.column[data-status=in_progress] ` +
    `[data-card="${task.id}"] .countdown`, { timeout: 5000 });
  await shot(page, 'board');
  await page.click(`[data-card="${task.id}"] button:text("Complete")`);
  await page.waitForSelector(
    `.column[data-status=done] [data-task-id="${task.id}"]`,
    { timeout: 5000 });
  got = await call('GET', `/tasks/${task.id}`);
  if (got.status !== 'done' || got.assignee !== 'e2e-human' ||
      got.attempt !== 2)
    throw new Error('complete from the UI: ' + JSON.stringify(got));
  ok('release, claim again and complete from the board', 'attempt 2, done');
  // Dark, and at 200% zoom (a 640 px wide window at scale 2).
  await page.emulateMedia({ colorScheme: 'dark' });
  await page.setViewportSize({ width: 640, height: 800 });
  await shot(page, 'board-dark-narrow');
  // Keyboard: Tab reaches the first Edit button, Enter opens the dialog,
  // Escape closes it.
  await page.focus('#filters [name=agent]');
  let hops = 0;
  while (hops++ < 60 && !(await page.evaluate(() =>
    document.activeElement.textContent === 'Edit'))) {
    await page.keyboard.press('Tab');
  }
  await page.keyboard.press('Enter');
  await page.waitForSelector('#task-dialog[open]', { timeout: 5000 });
  await page.keyboard.press('Escape');
  await page.waitForSelector('#task-dialog:not([open])',
    { state: 'attached' });
  ok('keyboard: Tab to Edit, Enter opens the dialog, Escape closes it',
    hops + ' tabs');
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 800 });

  // 4. An agent's glasspane state reaches its badge.
  await page.click('nav [data-view=agents]');
  await call('POST', '/agents', { id: 'pi-e2e', kind: 'pi' });
  await page.waitForSelector('[data-agent-id="pi-e2e"]', { timeout: 5000 });
  const t1 = Date.now();
  await call('POST', '/agents/pi-e2e/events',
    fs.readFileSync(env.COLIBRI_PI_EVENTS, 'utf8'), 'application/x-ndjson');
  await page.waitForSelector('[data-agent-id="pi-e2e"][data-state=done]',
    { timeout: 10000 });
  measures.agent_state_to_badge_ms = Date.now() - t1;
  if (measures.agent_state_to_badge_ms > WITHIN)
    throw new Error(`badge took ${measures.agent_state_to_badge_ms} ms`);
  ok('agent badge becomes done', measures.agent_state_to_badge_ms + ' ms');

  // Spawn a smoke agent from the form; its badge goes working -> done.
  // A MutationObserver writes down every state the badge shows.
  await page.evaluate(() => {
    window.seenStates = {};
    const note = () => {
      for (const b of document.querySelectorAll('#agents [data-agent-id]')) {
        const l = window.seenStates[b.dataset.agentId] ||= [];
        if (l[l.length - 1] !== b.dataset.state) l.push(b.dataset.state);
      }
    };
    new MutationObserver(note).observe(document.getElementById('agents'),
      { childList: true, subtree: true, attributes: true });
  });
  await page.click('#spawn summary');
  await page.fill('#spawn-form [name=runner]', 'smoke');
  await page.fill('#spawn-form [name=id]', 'ui-smoke');
  await page.fill('#spawn-form [name=args]', '--scenario slow --delay-ms 60');
  await page.fill('#spawn-form [name=prompt]', 'Say hello');
  await page.click('#spawn-form button[type=submit]');
  await page.waitForSelector('[data-agent-id="ui-smoke"][data-state=done]',
    { timeout: 15000 });
  const seen = await page.evaluate(() => window.seenStates['ui-smoke']);
  if (!seen.includes('working') ||
      seen.indexOf('working') > seen.lastIndexOf('done'))
    throw new Error('states seen: ' + seen);
  ok('agent spawned from the form: badge ' + seen.join(' -> '));
  // The form opened its detail panel: timeline and facts.
  await until(page, () => {
    const p = document.getElementById('agent-detail');
    return !p.hidden && p.dataset.agent === 'ui-smoke' &&
      p.querySelector('h3 .badge[data-state=done]') &&
      p.querySelectorAll('.timeline li').length >= 2 &&
      p.querySelectorAll('.timeline-bar rect').length >= 2 &&
      /Restarts/.test(p.querySelector('.facts').textContent);
  }, null, 5000);
  measures.output_source = await page.textContent(
    '#agent-detail .out-source');
  ok('agent detail: state timeline, process facts, output',
    measures.output_source);
  if (measures.output_source.includes('session')) {
    // session.end makes the page read the agent again: its exit status.
    await page.waitForSelector('[data-agent="ui-smoke"] .exit:text("exit 0")',
      { timeout: 5000 });
    await until(page, () => /\(agent end \(stop\)|assistant: /.test(
      document.querySelector('#agent-detail .output').textContent));
    ok('a run that ends updates the exit status; its output is summarized');
  }
  await shot(page, 'agents');

  // The jail fields travel as the spawn's `jail` object; a bad one is
  // refused by the daemon (invalid_jail) and the page says why.
  await page.fill('#spawn-form [name=id]', 'ui-jail');
  await page.fill('#spawn-form [name=args]', '--scenario ok');
  await page.fill('#spawn-form [name=jail_name]', 'web');
  await page.fill('#spawn-form [name=jail_path]', '/jails/web');
  await page.fill('#spawn-form [name=jail_ip4]', '192.0.2');
  await page.fill('#spawn-form [name=jail_user]', 'dev');
  const [spawnReq] = await Promise.all([
    page.waitForRequest((r) => r.url().endsWith('/api/v1/agents/spawn')),
    page.click('#spawn-form button[type=submit]')]);
  const sentJail = spawnReq.postDataJSON().jail;
  if (JSON.stringify(sentJail) !== JSON.stringify({ name: 'web',
    path: '/jails/web', ip4: '192.0.2', user: 'dev' }))
    throw new Error('jail sent: ' + JSON.stringify(sentJail));
  await page.waitForSelector('#notice:text("IPv4")', { timeout: 5000 });
  const jailAgent = await fetch(base + '/api/v1/agents/ui-jail',
    { headers: auth });
  if (jailAgent.status !== 404)
    throw new Error('a refused spawn left agent ui-jail behind');
  for (const k of ['name', 'path', 'ip4', 'user'])
    await page.fill(`#spawn-form [name=jail_${k}]`, '');
  ok('spawn form sends the jail fields; invalid_jail is shown');
  // The browser logged that expected 400; any other error stays.
  const at400 = errors.findIndex((m) => / status of 400 /.test(m));
  if (at400 >= 0) errors.splice(at400, 1);

  // Spawn one that hangs and kill it from its panel.
  await page.fill('#spawn-form [name=id]', 'ui-hang');
  await page.fill('#spawn-form [name=args]', '--scenario hang');
  await page.fill('#spawn-form [name=prompt]', '');
  await page.click('#spawn-form button[type=submit]');
  await page.waitForSelector('[data-agent-id="ui-hang"][data-state=working]',
    { timeout: 10000 });
  await until(page, () => {
    const p = document.getElementById('agent-detail');
    return p.dataset.agent === 'ui-hang' &&
      !p.querySelector('[data-act=kill]').disabled;
  }, null, 5000);
  await page.click('#agent-detail [data-act=kill]');
  await page.waitForSelector('[data-agent-id="ui-hang"][data-state=error]',
    { timeout: 15000 });
  const proc = await call('GET', '/agents/ui-hang/process');
  if (proc.running || !proc.stopped)
    throw new Error('kill: ' + JSON.stringify(proc));
  await until(page, () => /signal 15|SIGTERM|died/.test(
    document.querySelector('#agent-detail .timeline').textContent), null,
  5000);
  ok('kill from the detail panel: the agent stops, badge error',
    'exit ' + proc.exit_status);
  await shot(page, 'agents-killed');

  // 5. Skill search shows the expected hit, highlighted.
  await page.click('nav [data-view=skills]');
  await page.fill('#skill-search [name=q]', 'pdftotext');
  await page.waitForSelector('#skill-hits [data-skill="pdf-tools"] mark',
    { timeout: 5000 });
  ok('skill search highlights the hit');
  await page.click('#skill-hits [data-skill="pdf-tools"] button');
  await until(page, () => {
    const p = document.getElementById('skill-detail');
    return !p.hidden && /Run pdftotext on the file's path/.test(
      p.querySelector('.skill-body').textContent);
  });
  await page.click('#skill-detail .files button:text("SKILL.md")');
  await until(page, () => /^---\nname: pdf-tools\n/.test(
    document.querySelector('#skill-detail .file-content').textContent));
  ok("a skill's SKILL.md body and files open");
  // A skill written through the API joins the shown hits, live.
  const t0Skill = Date.now();
  await call('PUT', '/skills/pdf-more', { skill_md: '---\nname: pdf-more\n' +
    'description: More PDF tools.\n---\nAlso calls pdftotext.\n' });
  await page.waitForSelector('#skill-hits [data-skill="pdf-more"]',
    { timeout: 1000 });
  ok('a skill written through the API shows without reload',
    `${Date.now() - t0Skill} ms`);
  await shot(page, 'skills');

  // Cost: after metering rows exist, the charts are SVG.
  const probe = await fetch(base + '/api/v1/metering/summary?group_by=day',
    { headers: auth });
  if (probe.status !== 200) {
    throw new Error('metering.summary answered ' + probe.status);
  } else {
    const rows = [['pi-e2e', 'deepseek-chat', 1000, 200, 3000, 0, 0.002],
      ['pi-e2e', 'deepseek-chat', 500, 100, 3500, 0, 0.001],
      ['ui-smoke', 'claude-x', 800, 50, 0, 2400, 0.01]];
    for (const [agent, model, i, o, r, w, cost] of rows) {
      await call('POST', '/metering', { source: 'api', provider: 'test',
        model, agent, input_tokens: i, output_tokens: o,
        cache_read_tokens: r, cache_write_tokens: w, cost });
    }
    await page.click('nav [data-view=cost]');
    await page.waitForSelector('#chart-hit svg rect.bar.hit',
      { timeout: 5000 });
    // Agents' own runs are metered from their streams too: as many bars
    // as the API has groups, ours among them.
    const byAgent = await call('GET', '/metering/summary?group_by=agent');
    const byModel = await call('GET', '/metering/summary?group_by=model');
    await until(page, ([na, nm]) =>
      document.querySelectorAll('#chart-agent svg g.point').length === na &&
      document.querySelectorAll('#chart-model svg g.point').length === nm &&
      document.querySelector('#chart-model [data-key="claude-x"]') &&
      document.querySelector('#chart-agent [data-key="pi-e2e"]'),
    [byAgent.items.length, byModel.items.length]);
    // A new row arrives as a `metering` event and redraws the charts.
    await call('POST', '/metering', { source: 'api', provider: 'test',
      model: 'third-model', agent: 'pi-e2e', input_tokens: 10,
      output_tokens: 1, cache_read_tokens: 0, cache_write_tokens: 0,
      cost: 0.0001 });
    await until(page, () =>
      document.querySelector('#chart-model [data-key="third-model"]'));
    const hit = await page.getAttribute('#chart-hit svg', 'aria-label');
    const day = (await call('GET', '/metering/summary?group_by=day'))
      .items.slice(-1)[0];
    if (!hit.includes(`${(day.hit_ratio * 100).toFixed(1)}%`))
      throw new Error(`hit chart "${hit}" vs ${JSON.stringify(day)}`);
    ok('cost tab draws hit ratio and cost by agent and model as SVG',
      `hit ratio today ${(day.hit_ratio * 100).toFixed(1)}%`);
    await shot(page, 'cost');
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.setViewportSize({ width: 640, height: 800 });
    await shot(page, 'cost-dark-narrow');
    await page.click('nav [data-view=agents]');
    await shot(page, 'agents-dark-narrow');
    await page.emulateMedia({ colorScheme: 'light' });
    await page.setViewportSize({ width: 1280, height: 800 });
  }

  // Hosts: this host's manifest, and a host that reports joins the list
  // live.
  await page.click('nav [data-view=hosts]');
  const runtime = await call('GET', '/runtime');
  await page.waitForSelector(
    `#host-local[data-host="${runtime.host.name}"] dl.facts`,
    { timeout: 5000 });
  const local = await page.textContent('#host-local');
  if (!local.includes(String(runtime.host.cpus)) ||
      !runtime.runtimes.filter((r) => r.found).every((r) =>
        local.includes(r.name)))
    throw new Error('this host: ' + local);
  const t0Host = Date.now();
  const edge = JSON.parse(JSON.stringify(runtime));
  edge.host.name = 'edge-1';
  edge.colibri = { role: 'colibri', version: runtime.colibri.version };
  await call('POST', '/hosts', edge);
  await page.waitForSelector('#host-list [data-host="edge-1"][data-online=yes]',
    { timeout: 1000 });
  ok("hosts: this host's manifest; a reporting host joins the list live",
    `${Date.now() - t0Host} ms`);
  await shot(page, 'hosts');

  // 6. A write without the CSRF header is refused (same page, cookie on).
  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  const refused = await page.evaluate(async () => {
    const r = await fetch('/api/v1/tasks', { method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ title: 'no csrf' }) });
    return { status: r.status, code: (await r.json()).code };
  });
  if (refused.status !== 403 || refused.code !== 'csrf_required')
    throw new Error('write without CSRF: ' + JSON.stringify(refused));
  ok('write without CSRF header refused (403 csrf_required)');
  errors.length = 0;    // the browser logs that 403 as an error

  // 7. Budget: 1,000 tasks render, then 20 events a second.
  await page.click('nav [data-view=board]');
  // Three rounds (the first one is cold): the best counts, all are shown.
  const rounds = await page.evaluate(async () => {
    const board = await import('/board.js');
    const now = new Date().toISOString();
    const times = [];
    for (let round = 0; round < 3; round++) {
      const items = [];
      for (let i = 1; i <= 1000; i++) {
        items.push({ id: 100000 + round * 1000 + i, title: 'Bulk task ' + i,
          status: ['todo', 'in_progress', 'review', 'done'][i % 4],
          priority: i % 5, labels: ['bulk'], depends_on: [], ready: true,
          version: 1, created_at: now, updated_at: now, lease: null });
      }
      const t = performance.now();
      board.setTasks(items);
      await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
      times.push(Math.round(performance.now() - t));
    }
    return times;
  });
  measures.render_1000_rounds_ms = rounds;
  measures.render_1000_ms = Math.min(...rounds);
  if (measures.render_1000_ms > (env.COLIBRI_E2E_STRICT ? 200 : 2000))
    throw new Error(`1,000 cards took ${measures.render_1000_ms} ms`);
  ok('1,000 tasks rendered in the page', `best ${measures.render_1000_ms}` +
    ` ms of ${rounds.join(', ')}`);

  // 1,000 real tasks through the API, then a reload: the board's own load.
  const bulk = [];
  for (let i = 0; i < 1000; i += 25) {
    const batch = [];
    for (let k = i; k < i + 25; k++) {
      batch.push(call('POST', '/tasks', { title: 'Real task ' + k,
        priority: k % 5, labels: ['bulk', 'l' + (k % 7)] }));
    }
    bulk.push(...await Promise.all(batch));
  }
  await page.reload();
  await page.waitForSelector('body[data-ready=yes]', { timeout: 20000 });
  const load = await page.evaluate(async () => {
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r)));
    const nav = performance.getEntriesByType('navigation')[0];
    return { build: Number(document.body.dataset.renderMs),
      painted: Math.round(performance.now() - nav.startTime),
      cards: document.querySelectorAll('.card').length };
  });
  if (load.cards < 1000) throw new Error('cards after reload: ' + load.cards);
  measures.reload_cards = load.cards;
  measures.reload_build_ms = load.build;
  measures.reload_to_painted_ms = load.painted;
  // The budget is 200 ms; a shared test machine can be slower, so only
  // COLIBRI_E2E_STRICT=1 enforces it (the numbers are printed either way).
  if (load.build > (env.COLIBRI_E2E_STRICT ? 200 : 2000))
    throw new Error(`building ${load.cards} cards took ${load.build} ms`);
  ok(`reload with ${load.cards} tasks`, `board built in ${load.build} ms` +
    `${load.build > 200 ? ' (over the 200 ms budget)' : ''}, painted ` +
    `${load.painted} ms after navigation`);

  // 20 task updates a second for 5 s while typing in the search box:
  // long tasks, event-loop lag and the browser's own input timing.
  await page.evaluate(() => {
    window.perf = { long: [], lag: [], input: [] };
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.perf.long.push(e.duration);
    }).observe({ type: 'longtask' });
    new PerformanceObserver((l) => {
      for (const e of l.getEntries()) window.perf.input.push(e.duration);
    }).observe({ type: 'event', durationThreshold: 16, buffered: false });
    let last = performance.now();
    window.perf.timer = setInterval(() => {
      const now = performance.now();
      window.perf.lag.push(now - last - 50);
      last = now;
    }, 50);
  });
  const t2 = Date.now();
  const sent = [];
  const typing = (async () => {
    // 'real task 9' narrows the board to a tenth, Backspace widens it
    // back to every bulk task ('real task ' also matches the updated).
    for (const key of [...'real task 9', 'Backspace']) {
      await page.press('#filters [name=q]', key === ' ' ? 'Space' : key);
      await new Promise((r) => setTimeout(r, 300));
    }
  })();
  for (let i = 0; i < 100; i++) {
    // On a fixed schedule: the i-th update leaves at i × 50 ms.
    await new Promise((r) => setTimeout(r, t2 + i * 50 - Date.now()));
    const t = bulk[i * 7];
    sent.push(call('PATCH', `/tasks/${t.id}`, { version: t.version,
      title: 'Real task updated ' + i, priority: (t.priority + 1) % 5 }));
  }
  await Promise.all(sent);
  await typing;
  measures.burst_send_ms = Date.now() - t2;
  const lastT = bulk[99 * 7];
  await page.waitForFunction((id) => {
    const n = document.querySelector(`[data-task-id="${id}"]`);
    return n && n.textContent === 'Real task updated 99';
  }, lastT.id, { timeout: 5000 });
  measures.burst_applied_after_ms = Date.now() - t2 - measures.burst_send_ms;
  const perf = await page.evaluate(() => {
    clearInterval(window.perf.timer);
    const p = window.perf;
    const sorted = (a) => a.slice().sort((x, y) => x - y);
    const pick = (a, q) => (a.length ? Math.round(sorted(a)[Math.min(
      a.length - 1, Math.floor(q * a.length))]) : 0);
    return { long_tasks: p.long.length,
      long_task_max_ms: Math.round(Math.max(0, ...p.long)),
      lag_p95_ms: pick(p.lag, 0.95), lag_max_ms: pick(p.lag, 1),
      input_events_over_16ms: p.input.length,
      input_max_ms: Math.round(Math.max(0, ...p.input)) };
  });
  Object.assign(measures, perf);
  const shownNow = await page.evaluate(() =>
    document.querySelectorAll('.card').length);
  if (shownNow !== 1000) throw new Error(`after the burst ${shownNow} cards`);
  await page.fill('#filters [name=q]', '');
  if (env.COLIBRI_E2E_STRICT && perf.lag_p95_ms > 100)
    throw new Error('event loop lag p95 ' + perf.lag_p95_ms + ' ms');
  ok('100 updates at 20/s with 1,000 cards while typing',
    `long tasks ${perf.long_tasks} (max ${perf.long_task_max_ms} ms), ` +
    `lag p95 ${perf.lag_p95_ms} ms, max input ${perf.input_max_ms} ms`);
  await shot(page, 'board-1000', false);   // the first screen of it

  if (errors.length) throw new Error('page errors: ' + errors.join('; '));
  ok('no errors in the page');
} catch (e) {
  failed = true;
  console.log('not ok - ' + (e && e.stack ? e.stack : e));
  try {
    const p = context.pages()[0];
    if (p) await shot(p, 'failure', false);
  } catch { /* best effort */ }
} finally {
  await context.close();
  fs.rmSync(userDataDir, { recursive: true, force: true });
}
// The machine's load average at the end: the times above depend on it.
measures.loadavg_1m = Number(os.loadavg()[0].toFixed(2));
measures.cpus = os.cpus().length;
console.log('measures ' + JSON.stringify(measures));
console.log(`${passed} passed, ${failed ? 1 : 0} failed`);
process.exit(failed ? 1 : 0);
