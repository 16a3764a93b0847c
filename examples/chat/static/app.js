// Browser client for the shoal chat example: plain ES module, no dependencies.
//
// Everything that comes from users or the server (names, rooms, message
// text, error strings) reaches the DOM only through textContent / text
// nodes, never innerHTML, so "<script>…" or "<b>x</b>" shows up literally.

const $ = (id) => document.getElementById(id);
const ui = {
  status: $('status'),
  errorBox: $('error-box'), error: $('error'), errorClose: $('error-close'),
  joinView: $('join-view'), joinForm: $('join-form'), name: $('name'), room: $('room'),
  chatView: $('chat-view'), roomTitle: $('room-title'),
  switchForm: $('switch-form'), switchRoom: $('switch-room'), leave: $('leave'),
  messages: $('messages'), members: $('members'), memberCount: $('member-count'),
  composer: $('composer'), text: $('text'),
};

const WS_URL = `${location.protocol === 'https:' ? 'wss:' : 'ws:'}//${location.host}/ws`;
const BACKOFF_MIN_MS = 500;
const BACKOFF_MAX_MS = 10_000;
const MAX_RENDERED = 500; // oldest lines are dropped so a long session stays light
const ERROR_FADE_MS = 8000;
const NAME_KEY = 'shoal-chat-name';

const state = {
  ws: null,
  attempt: 0,        // consecutive reconnects without a successful join
  retryTimer: 0,
  tickTimer: 0,
  errorTimer: 0,
  current: null,     // {name, room} last confirmed by a "joined"
  pending: null,     // {name, room} join sent (or to send on open), not yet answered
  connRoom: null,    // room the server has us in on *this* socket, if any
  members: [],
};

// ---- connection -----------------------------------------------------------

function connect() {
  clearRetry();
  setStatus('connecting', 'connecting…');
  const ws = new WebSocket(WS_URL);
  state.ws = ws;
  // Handlers check ws === state.ws so late events from a replaced socket are ignored.
  ws.onopen = () => {
    if (ws !== state.ws) return;
    setStatus('connected', 'connected');
    // The server forgets us when a socket drops, so re-send the join we were
    // waiting on, or else the last confirmed one, to land back in the same room.
    const again = state.pending ?? state.current;
    if (again) join(again.name, again.room);
    else state.attempt = 0; // nothing to confirm: an open socket is success enough
  };
  ws.onmessage = (ev) => { if (ws === state.ws) handle(ev.data); };
  // "error" is always followed by "close", which does the work.
  ws.onclose = () => { if (ws === state.ws) disconnected(); };
}

function disconnected() {
  state.ws = null;
  state.connRoom = null;
  if (state.current && !ui.chatView.hidden) addSystem('Connection lost.');
  scheduleReconnect();
}

function scheduleReconnect() {
  clearRetry();
  if (!navigator.onLine) { // the "online" listener reconnects
    setStatus('disconnected', 'disconnected (offline)');
    return;
  }
  const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** state.attempt);
  // ±20% jitter so clients dropped by one server restart don't return in lockstep.
  const delay = Math.min(BACKOFF_MAX_MS, base * (0.8 + Math.random() * 0.4));
  state.attempt++;
  const due = Date.now() + delay;
  const tick = () => {
    const secs = Math.max(1, Math.ceil((due - Date.now()) / 1000));
    setStatus('reconnecting', `reconnecting in ${secs}s…`);
  };
  tick();
  state.tickTimer = setInterval(tick, 250);
  state.retryTimer = setTimeout(connect, delay);
}

function clearRetry() {
  clearTimeout(state.retryTimer);
  clearInterval(state.tickTimer);
}

function setStatus(kind, text) {
  if (ui.status.textContent !== text) ui.status.textContent = text;
  ui.status.dataset.state = kind;
}

function send(obj) {
  if (state.ws?.readyState !== WebSocket.OPEN) return false;
  state.ws.send(JSON.stringify(obj));
  return true;
}

// Also used to switch rooms: the server leaves the old room on a new join.
// If the socket isn't open yet, onopen sends it.
function join(name, room) {
  state.pending = { name, room };
  send({ type: 'join', room, name });
}

// Until a "joined" answers our latest join we must not send "say".
const canSay = () => state.connRoom !== null && state.pending === null;

// ---- server messages --------------------------------------------------------

function handle(data) {
  let m;
  try { m = JSON.parse(data); } catch { return; }
  if (!m || typeof m !== 'object') return;
  switch (m.type) {
    case 'joined': return onJoined(m);
    case 'message': return onMessage(m);
    case 'presence': return onPresence(m);
    case 'error': return onServerError(m);
    default: // unknown types are ignored so the server can grow the protocol
  }
}

function onJoined(m) {
  const asked = state.pending ?? state.current ?? {};
  const prevRoom = state.current?.room;
  const wasHidden = ui.chatView.hidden;
  state.current = { name: str(m.name) || asked.name, room: str(m.room) || asked.room };
  state.pending = null;
  state.connRoom = state.current.room;
  state.attempt = 0; // a successful join resets the backoff
  state.members = names(m.members);
  rememberName(state.current.name);

  ui.roomTitle.textContent = state.current.room;
  document.title = `#${state.current.room} · shoal chat`;
  renderMembers();
  // Every join (first, switch, or re-join after a reconnect) starts from the
  // server's history, so replace the list instead of appending duplicates.
  ui.messages.setAttribute('aria-busy', 'true'); // don't read 100 old lines aloud
  ui.messages.replaceChildren();
  for (const h of Array.isArray(m.history) ? m.history : []) addMessage(h);
  ui.messages.removeAttribute('aria-busy');
  showView('chat');
  scrollToEnd();
  if (wasHidden || prevRoom !== state.current.room) ui.text.focus();
}

function onMessage(m) {
  if (!inCurrentRoom(m)) return;
  addMessage(m);
}

// Join/leave notices are derived by diffing the old and new member lists.
function onPresence(m) {
  if (!inCurrentRoom(m) || !canSay()) return; // stale, or mid-switch: "joined" brings the list
  const next = names(m.members);
  const before = new Set(state.members);
  const after = new Set(next);
  for (const n of next) if (!before.has(n)) addSystem(`${n} joined`);
  for (const n of state.members) if (!after.has(n)) addSystem(`${n} left`);
  state.members = next;
  renderMembers();
}

function onServerError(m) {
  showError(str(m.error) || 'Something went wrong.');
  // Errors carry no request id, but no "say" is sent while a join is
  // outstanding, so an error then almost surely rejects that join. Drop it
  // so a reconnect doesn't repeat it; we stay in the room we were in, if any.
  if (!state.pending) return;
  state.pending = null;
  if (state.connRoom === null && !ui.chatView.hidden) leaveToJoinForm(); // failed re-join
}

const inCurrentRoom = (m) =>
  state.current !== null && (m.room == null || m.room === state.current.room);

// ---- rendering --------------------------------------------------------------

function addMessage(m) {
  const li = document.createElement('li');
  li.className = 'msg';
  const from = str(m.from);
  if (from && from === state.current?.name) li.classList.add('mine');
  const time = document.createElement('time');
  time.className = 'ts';
  const d = new Date(m.ts);
  if (typeof m.ts === 'number' && !Number.isNaN(d.getTime())) {
    time.dateTime = d.toISOString();
    time.textContent = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  }
  // Real separators (not CSS) so copied text and screen readers get "12:03 bob: hi".
  li.append(time, ' ', span('from', from), ': ', span('text', str(m.text)));
  appendLine(li);
}

function addSystem(text) {
  const li = document.createElement('li');
  li.className = 'system';
  li.textContent = text;
  appendLine(li);
}

function appendLine(li) {
  const list = ui.messages;
  // Only follow new lines if the reader is already at the bottom.
  const atEnd = list.scrollHeight - list.scrollTop - list.clientHeight < 48;
  list.append(li);
  while (list.childElementCount > MAX_RENDERED) list.firstElementChild.remove();
  if (atEnd) scrollToEnd();
}

function renderMembers() {
  const me = state.current?.name;
  const sorted = [...state.members].sort((a, b) => a.localeCompare(b));
  ui.members.replaceChildren(...sorted.map((n) => {
    const li = document.createElement('li');
    li.textContent = n; // exactly the name; "(you)" is added by CSS
    if (n === me) li.className = 'me';
    return li;
  }));
  ui.memberCount.textContent = String(sorted.length);
}

function span(cls, text) {
  const s = document.createElement('span');
  s.className = cls;
  s.textContent = text;
  return s;
}

function showView(which) {
  ui.joinView.hidden = which !== 'join';
  ui.chatView.hidden = which !== 'chat';
}

function scrollToEnd() { ui.messages.scrollTop = ui.messages.scrollHeight; }

function showError(msg) {
  ui.error.textContent = msg;
  ui.errorBox.hidden = false;
  clearTimeout(state.errorTimer);
  state.errorTimer = setTimeout(hideError, ERROR_FADE_MS);
}

function hideError() {
  clearTimeout(state.errorTimer);
  ui.errorBox.hidden = true;
  ui.error.textContent = '';
}

function leaveToJoinForm() {
  const last = state.current;
  state.current = null;
  state.pending = null;
  state.members = [];
  ui.messages.replaceChildren();
  ui.members.replaceChildren();
  document.title = 'shoal chat';
  if (last) { ui.name.value = last.name; ui.room.value = last.room; }
  showView('join');
  ui.name.focus();
}

// ---- small helpers ----------------------------------------------------------

const str = (v) => (typeof v === 'string' ? v : '');
const names = (v) => (Array.isArray(v) ? v.filter((n) => typeof n === 'string') : []);
const pad = (n) => String(n).padStart(2, '0');

// localStorage holds only the last nickname; it may throw in private modes.
function rememberName(n) { try { localStorage.setItem(NAME_KEY, n); } catch { /* ignore */ } }
function recallName() { try { return localStorage.getItem(NAME_KEY) ?? ''; } catch { return ''; } }

// ---- UI events --------------------------------------------------------------

ui.joinForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const name = ui.name.value.trim();
  const room = ui.room.value.trim() || 'lobby';
  if (!name) { showError('Please pick a nickname.'); ui.name.focus(); return; }
  hideError();
  join(name, room);
  if (!state.ws) connect(); // skip the remaining backoff: the user is waiting
});

ui.switchForm.addEventListener('submit', (e) => {
  e.preventDefault();
  const room = ui.switchRoom.value.trim();
  if (!room || !state.current) return;
  ui.switchRoom.value = '';
  // Rooms are case-insensitive on the server, which sends no reply to a
  // join of the room we are already in: don't wait for one.
  if (room.toLowerCase() === state.current.room.toLowerCase() && state.pending === null) return;
  join(state.current.name, room);
});

ui.composer.addEventListener('submit', (e) => {
  e.preventDefault();
  const text = ui.text.value;
  if (!text.trim()) return;
  if (!canSay()) {
    showError(state.ws ? 'Still joining the room, try again in a moment.' : 'Not connected: message not sent.');
    return;
  }
  // No local echo: the server broadcasts our message back to us too.
  send({ type: 'say', text });
  ui.text.value = '';
});

ui.leave.addEventListener('click', () => {
  send({ type: 'leave' });
  state.connRoom = null;
  leaveToJoinForm();
});

ui.errorClose.addEventListener('click', hideError);

window.addEventListener('online', () => {
  if (!state.ws) { state.attempt = 0; connect(); }
});

// ---- start ------------------------------------------------------------------

ui.name.value = recallName();
(ui.name.value ? ui.room : ui.name).focus();
connect();
