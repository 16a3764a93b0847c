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
const NAME_KEY = 'shoal-chat-name'; // localStorage: prefills the form in any tab
const ROOM_KEY = 'shoal-chat-room';
const SESSION_KEY = 'shoal-chat-session'; // sessionStorage: this tab's room, kept across reloads

const state = {
  ws: null,
  attempt: 0,        // consecutive reconnects without a successful join
  retryTimer: 0,
  tickTimer: 0,
  errorTimer: 0,
  errorKind: '',     // 'connection' for errors a reconnect makes moot
  current: null,     // {name, room} last confirmed by a "joined"
  pending: null,     // {name, room} join sent (or to send on open), not yet answered
  connRoom: null,    // room the server has us in on *this* socket, if any
  you: '',           // our member id on this socket (from "joined")
  members: [],       // [{id, name}]
  lastSeq: 0,        // newest message shown: a re-join shows only what is newer
  lost: false,       // "Connection lost." shown, no join since
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
  state.you = '';
  // Once per outage, however many attempts fail before the next join.
  if (state.current && !ui.chatView.hidden && !state.lost) {
    state.lost = true;
    addSystem('Connection lost.', 'lost');
  }
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
  const sameRoom = !wasHidden && prevRoom === str(m.room);
  state.current = { name: str(m.name) || asked.name, room: str(m.room) || asked.room };
  state.pending = null;
  state.connRoom = state.current.room;
  state.attempt = 0; // a successful join resets the backoff
  state.you = str(m.you);
  state.members = members(m);
  remember(state.current);
  if (state.errorKind === 'connection') hideError();

  ui.roomTitle.textContent = state.current.room;
  document.title = `#${state.current.room} · shoal chat`;
  renderMembers();
  const history = (Array.isArray(m.history) ? m.history : []).filter((h) => h && typeof h.seq === 'number');
  ui.messages.setAttribute('aria-busy', 'true'); // don't read 100 old lines aloud
  if (sameRoom) rejoin(history);
  else {
    ui.messages.replaceChildren();
    state.lastSeq = 0;
    for (const h of history) addMessage(h);
  }
  ui.messages.removeAttribute('aria-busy');
  state.lost = false;
  showView('chat');
  scrollToEnd();
  if (wasHidden || prevRoom !== state.current.room) ui.text.focus();
}

// rejoin keeps what the page shows and adds what it missed. Messages are
// numbered in the server's order (seq): if the history reaches back to
// the last one shown, the gap is filled exactly; if it starts later,
// messages in between are gone from the history, and the page says so.
function rejoin(history) {
  const last = state.lastSeq;
  const newer = history.filter((h) => h.seq > last);
  if (!state.lost) { // a repeated join, not a reconnect: nothing to mark
    for (const h of newer) addMessage(h);
    return;
  }
  if (history.length && history[history.length - 1].seq < last) {
    addSystem('Reconnected. The server lost its history: messages below may repeat.', 'reconnected');
    state.lastSeq = 0;
    for (const h of history) addMessage(h);
    return;
  }
  // The history is the room's newest messages without a hole: if it
  // starts at or before the last one shown, it holds all that came after.
  const complete = last === 0 || newer.length === 0 || history[0].seq <= last;
  addSystem(complete ? 'Reconnected.' : 'Reconnected. Some messages sent meanwhile are not shown.', 'reconnected');
  for (const h of newer) addMessage(h);
}

function onMessage(m) {
  if (!inCurrentRoom(m)) return;
  if (typeof m.seq === 'number' && m.seq <= state.lastSeq) return; // already shown
  addMessage(m);
}

// Join/leave notices are derived by diffing the old and new member lists.
// A presence update lists the members whose presence changed: those in
// the room now (joined) and those not (left), by id, so two users of one
// name are two members. Applying it twice, or to a list that already
// has some of it (a "joined" that came in between), changes nothing.
function onPresence(m) {
  if (!inCurrentRoom(m) || !canSay()) return; // stale, or mid-switch: "joined" brings the list
  const byId = new Map(state.members.map((e) => [e.id, e]));
  for (const e of Array.isArray(m.joined) ? m.joined : []) {
    if (!e || typeof e.id !== 'string' || typeof e.name !== 'string') continue;
    if (!byId.has(e.id)) addSystem(`${e.name} joined`);
    byId.set(e.id, { id: e.id, name: e.name });
  }
  for (const id of Array.isArray(m.left) ? m.left : []) {
    const e = byId.get(id);
    if (!e) continue;
    byId.delete(id);
    addSystem(`${e.name} left`);
  }
  state.members = [...byId.values()];
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
  if (typeof m.seq === 'number') {
    li.dataset.seq = String(m.seq);
    state.lastSeq = Math.max(state.lastSeq, m.seq);
  }
  appendLine(li);
}

function addSystem(text, kind) {
  const li = document.createElement('li');
  li.className = 'system';
  if (kind) li.classList.add(kind);
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
  const sorted = [...state.members].sort((a, b) => a.name.localeCompare(b.name) || a.id.localeCompare(b.id));
  ui.members.replaceChildren(...sorted.map((e) => {
    const li = document.createElement('li');
    li.textContent = e.name; // exactly the name; "(you)" is added by CSS
    li.dataset.id = e.id;
    if (e.id === state.you) li.className = 'me'; // our connection, not our name
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

function showError(msg, kind = '') {
  ui.error.textContent = msg;
  ui.errorBox.hidden = false;
  state.errorKind = kind;
  clearTimeout(state.errorTimer);
  state.errorTimer = setTimeout(hideError, ERROR_FADE_MS);
}

function hideError() {
  clearTimeout(state.errorTimer);
  ui.errorBox.hidden = true;
  ui.error.textContent = '';
  state.errorKind = '';
}

function leaveToJoinForm() {
  const last = state.current;
  state.current = null;
  state.pending = null;
  state.members = [];
  state.lastSeq = 0;
  state.lost = false;
  forget();
  ui.messages.replaceChildren();
  ui.members.replaceChildren();
  document.title = 'shoal chat';
  if (last) { ui.name.value = last.name; ui.room.value = last.room; }
  showView('join');
  ui.name.focus();
}

// ---- small helpers ----------------------------------------------------------

const str = (v) => (typeof v === 'string' ? v : '');
// The member list of a "joined": names, and their ids in the same order.
function members(m) {
  const names = Array.isArray(m.members) ? m.members : [];
  const ids = Array.isArray(m.ids) ? m.ids : [];
  return names.map((name, i) => ({ name: str(name), id: typeof ids[i] === 'string' ? ids[i] : `#${i}` }))
    .filter((e) => e.name);
}
const pad = (n) => String(n).padStart(2, '0');

// localStorage keeps the last nickname and room for the form of any new
// tab; sessionStorage keeps this tab's room, so a reload rejoins it. Both
// may throw (private modes, storage off): the page works without them.
function remember(cur) {
  try {
    localStorage.setItem(NAME_KEY, cur.name);
    localStorage.setItem(ROOM_KEY, cur.room);
    sessionStorage.setItem(SESSION_KEY, JSON.stringify(cur));
  } catch { /* ignore */ }
}
function forget() { try { sessionStorage.removeItem(SESSION_KEY); } catch { /* ignore */ } }
function recall(key) { try { return localStorage.getItem(key) ?? ''; } catch { return ''; } }
function recallSession() {
  try {
    const s = JSON.parse(sessionStorage.getItem(SESSION_KEY) ?? 'null');
    return s && typeof s.name === 'string' && typeof s.room === 'string' ? s : null;
  } catch { return null; }
}

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
    if (state.ws) showError('Still joining the room, try again in a moment.', 'connection');
    else showError('Not connected: message not sent.', 'connection');
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

ui.name.value = recall(NAME_KEY);
ui.room.value = recall(ROOM_KEY) || 'lobby';
const resumed = recallSession();
if (resumed) join(resumed.name, resumed.room); // a reload: back to the same room, sent on open
else (ui.name.value ? ui.room : ui.name).focus();
connect();
