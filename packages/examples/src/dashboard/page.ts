/**
 * The dashboard: one self-contained page (no build step, nothing fetched from elsewhere), served
 * by every node at `GET /`. It asks its node for the members (`GET /v1/dashboard`), then opens a
 * WebSocket to every member's own `/v1/watch` (their HTTP addresses must be reachable from the
 * browser): each member reports itself, so a stopped member shows as down while the others go on.
 */
export const DASHBOARD_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Flotilla dashboard</title>
<style>
  :root { --ok: #1a7f37; --bad: #cf222e; --dim: #6e7781; --line: #d0d7de; --lead: #fff8c5; }
  body { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px; color: #1f2328; }
  h1 { font-size: 20px; margin: 0 0 4px; }
  #summary { margin: 0 0 16px; color: var(--dim); }
  #leader { font-weight: 600; color: #1f2328; }
  table { border-collapse: collapse; min-width: 900px; }
  th, td { border-bottom: 1px solid var(--line); padding: 6px 10px; text-align: right; white-space: nowrap; }
  th { font-weight: 600; background: #f6f8fa; }
  th:first-child, td:first-child, td[data-field="state"], td[data-field="role"], td[data-field="leader"], td.actions { text-align: left; }
  tr.is-leader td { background: var(--lead); }
  tr.down td { color: var(--dim); }
  .state-up { color: var(--ok); } .state-down, .state-stale { color: var(--bad); }
  button { font: inherit; margin-right: 4px; padding: 2px 8px; cursor: pointer; }
  button:disabled { cursor: not-allowed; }
  #control-note { color: var(--dim); margin: 12px 0 0; }
  #log { margin: 12px 0 0; padding: 0; list-style: none; color: var(--dim); font-family: ui-monospace, monospace; font-size: 12px; }
</style>
</head>
<body>
<h1>Flotilla</h1>
<p id="summary">Leader: <span id="leader">unknown</span> · served by <span id="self">?</span> · <span id="clock"></span></p>
<table>
  <thead><tr>
    <th>member</th><th>state</th><th>role</th><th>term</th><th>leader</th><th>commit</th><th>applied</th>
    <th>proposals/s</th><th>p50</th><th>p99</th><th>peers up</th><th>actions</th>
  </tr></thead>
  <tbody id="members"></tbody>
</table>
<p id="control-note"></p>
<ul id="log"></ul>
<script>
"use strict";
const FIELDS = ['state', 'role', 'term', 'leader', 'commit', 'applied', 'rate', 'p50', 'p99', 'peers'];
const STALE_MS = 2000;
const members = new Map();
let self = '';
let control = null;
let controlReason = '';
let scheduled = false;
let ready = false;

function fmtUs(us) {
  if (!us) return '–';
  return us < 1000 ? us + ' µs' : (us / 1000).toFixed(us < 10000 ? 2 : 1) + ' ms';
}

function log(text) {
  const list = document.getElementById('log');
  const item = document.createElement('li');
  item.textContent = new Date().toLocaleTimeString() + '  ' + text;
  list.prepend(item);
  while (list.children.length > 8) list.lastChild.remove();
}

function schedule() {
  if (scheduled) return;
  scheduled = true;
  requestAnimationFrame(() => { scheduled = false; render(); });
}

function addMember(id, httpAddress, voter) {
  let m = members.get(id);
  if (m) {
    if (httpAddress && m.httpAddress !== httpAddress) { m.httpAddress = httpAddress; if (m.ws) m.ws.close(); }
    if (voter !== undefined && m.voter !== voter) { m.voter = voter; m.name.textContent = label(m); log(id + (voter ? ' is a voter' : ' is a learner')); }
    return;
  }
  m = { id, httpAddress, voter: voter !== false, snap: null, up: false, seenAt: 0, ws: null, retry: 0, timer: 0, row: null, name: null, cells: {}, buttons: {} };
  members.set(id, m);
  makeRow(m);
  connect(m);
  if (ready) log(id + ' joined');
}

function removeMember(id) {
  const m = members.get(id);
  if (!m) return;
  members.delete(id);
  clearTimeout(m.timer);
  const ws = m.ws;
  m.ws = null;
  if (ws) ws.close();
  if (m.row) m.row.remove();
  log(id + ' left the cluster');
  schedule();
}

function label(m) {
  return m.voter ? m.id : m.id + ' (learner)';
}

function connect(m) {
  clearTimeout(m.timer);
  if (!m.httpAddress) return;
  let ws;
  try { ws = new WebSocket('ws://' + m.httpAddress + '/v1/watch'); } catch (e) { retry(m); return; }
  m.ws = ws;
  ws.onopen = () => { m.retry = 0; };
  ws.onmessage = (event) => {
    const snap = JSON.parse(event.data);
    m.snap = snap; m.up = true; m.seenAt = Date.now();
    for (const other of snap.members) addMember(other.id, other.httpAddress, other.voter);
    // The leader's configuration is the cluster's: drop the rows of members it no longer has.
    if (snap.role === 'leader') {
      const current = new Set(snap.members.map((other) => other.id));
      for (const id of [...members.keys()]) if (!current.has(id) && id !== self) removeMember(id);
    }
    schedule();
  };
  ws.onclose = () => {
    if (m.ws !== ws) return;
    m.ws = null; m.up = false;
    schedule();
    retry(m);
  };
}

function retry(m) {
  clearTimeout(m.timer);
  m.timer = setTimeout(() => connect(m), Math.min(3000, 200 * 2 ** m.retry++));
}

function makeRow(m) {
  const row = document.createElement('tr');
  row.dataset.member = m.id;
  const name = document.createElement('td');
  name.textContent = label(m);
  m.name = name;
  row.append(name);
  for (const field of FIELDS) {
    const cell = document.createElement('td');
    cell.dataset.field = field;
    row.append(cell);
    m.cells[field] = cell;
  }
  const actions = document.createElement('td');
  actions.className = 'actions';
  for (const [action, label] of [['transfer', 'Make leader'], ['stop', 'Stop'], ['start', 'Start']]) {
    const button = document.createElement('button');
    button.textContent = label;
    button.dataset.action = action;
    button.dataset.member = m.id;
    button.onclick = () => act(action, m.id);
    actions.append(button);
    m.buttons[action] = button;
  }
  row.append(actions);
  m.row = row;
  const body = document.getElementById('members');
  const after = [...body.children].find((r) => r.dataset.member > m.id);
  body.insertBefore(row, after || null);
}

function isLive(m) {
  return m.up && m.snap && Date.now() - m.seenAt < STALE_MS;
}

function currentLeader() {
  let best = null;
  for (const m of members.values()) {
    if (isLive(m) && m.snap.role === 'leader' && (!best || m.snap.term > best.snap.term)) best = m;
  }
  return best;
}

function render() {
  const leader = currentLeader();
  const leaderText = document.getElementById('leader');
  leaderText.textContent = leader ? leader.id + ' (term ' + leader.snap.term + ')' : 'none';
  leaderText.dataset.leader = leader ? leader.id : '';
  document.getElementById('clock').textContent = 'updated ' + new Date().toLocaleTimeString();
  for (const m of members.values()) {
    const live = isLive(m);
    const s = m.snap;
    const state = !m.httpAddress ? 'no address' : live ? 'up' : m.up ? 'stale' : 'down';
    const c = m.cells;
    c.state.textContent = state;
    c.state.className = 'state-' + (state === 'up' ? 'up' : state === 'stale' ? 'stale' : 'down');
    m.row.dataset.state = state;
    m.row.dataset.role = live ? s.role : '';
    m.row.classList.toggle('down', !live);
    m.row.classList.toggle('is-leader', live && s.role === 'leader');
    c.role.textContent = live ? s.role : '–';
    c.term.textContent = s ? s.term : '–';
    c.leader.textContent = live ? (s.leader || 'none') : '–';
    c.commit.textContent = s ? s.commitIndex : '–';
    c.applied.textContent = s ? s.appliedIndex : '–';
    c.rate.textContent = live ? Math.round(s.proposals.perSec) : '–';
    c.p50.textContent = live ? fmtUs(s.proposals.p50Us) : '–';
    c.p99.textContent = live ? fmtUs(s.proposals.p99Us) : '–';
    c.peers.textContent = live ? s.peers.filter((p) => p.connected).length + '/' + s.peers.length : '–';
    const b = m.buttons;
    b.transfer.disabled = !live || s.role === 'leader' || !leader;
    b.transfer.title = !live ? m.id + ' is not up' : s.role === 'leader' ? m.id + ' leads already' : !leader ? 'no leader to hand over' : 'transfer leadership to ' + m.id;
    b.stop.disabled = !control || m.busy || !m.up;
    b.start.disabled = !control || m.busy || m.up;
    if (!control) { b.stop.title = controlReason; b.start.title = controlReason; }
    else { b.stop.title = 'stop ' + m.id + "'s process"; b.start.title = 'start ' + m.id + "'s process again"; }
  }
}

async function act(action, id) {
  const m = members.get(id);
  if (action === 'transfer') {
    log('transfer leadership to ' + id + '…');
    try {
      const r = await fetch('/v1/leader/transfer', { method: 'POST', body: JSON.stringify({ to: id }) });
      const body = await r.json();
      log(r.ok ? id + ' leads in term ' + body.term : 'transfer failed: ' + (body.message || r.status));
    } catch (e) {
      log('transfer failed: ' + self + ' (which served this page) does not answer; open the dashboard of another member');
    }
    return;
  }
  if (!control || !m) return;
  m.busy = true;
  schedule();
  log(action + ' ' + id + '…');
  try {
    const r = await fetch(control.url + '/v1/nodes/' + encodeURIComponent(id) + '/' + action + '?token=' + encodeURIComponent(control.token), { method: 'POST' });
    const body = await r.json();
    log(r.ok ? id + (body.running ? ' is running' : ' is stopped') : action + ' ' + id + ' failed: ' + (body.message || r.status));
  } catch (e) {
    log(action + ' ' + id + ' failed: the cluster launcher does not answer (' + e.message + ')');
  } finally {
    m.busy = false;
    schedule();
  }
}

async function init() {
  const info = await (await fetch('/v1/dashboard')).json();
  self = info.id;
  control = info.control;
  controlReason = info.controlReason || '';
  document.getElementById('self').textContent = self;
  document.getElementById('control-note').textContent = control ? 'Stop and start act on the local cluster launcher\\'s processes.' : 'Stop/start disabled: ' + controlReason;
  for (const m of info.members) addMember(m.id, m.httpAddress, m.voter);
  ready = true;
  setInterval(schedule, 500);
  render();
}

init().catch((e) => log('cannot load the members: ' + e.message));
</script>
</body>
</html>
`;
