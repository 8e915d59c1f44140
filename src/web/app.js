// mio-chat in a browser: one WebSocket, one text message per chat line, every line
// shown as text (never parsed as HTML). Reconnects with backoff and restores its nick
// and room, like `mio-chat connect`.
"use strict";

const log = document.getElementById("log");
const status = document.getElementById("status");
const roomView = document.getElementById("room");
const whoView = document.getElementById("who");
const form = document.getElementById("say");
const input = document.getElementById("line");

const state = {
  socket: null,
  nick: null,        // the nick this page asked for (restored on reconnect)
  me: null,          // the nick the server says we have
  room: "lobby",
  pendingRoom: null, // a /join sent, not yet confirmed
  members: new Set(),
  quietWho: 0,       // /who replies this page asked for itself, not shown
  backoff: 500,
  quitting: false,
};

function socketUrl() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}/ws`;
}

function connect() {
  const socket = new WebSocket(socketUrl());
  state.socket = socket;
  setStatus("connecting…");
  socket.onopen = () => {
    state.backoff = 500;
    setStatus("connected");
    if (state.nick) send(`/nick ${state.nick}`);
    if (state.room.toLowerCase() !== "lobby") {
      state.pendingRoom = state.room;
      send(`/join ${state.room}`);
    }
    askWho();
  };
  socket.onmessage = (event) => receive(String(event.data));
  socket.onclose = () => {
    if (state.socket !== socket) return;
    state.socket = null;
    if (state.quitting) {
      setStatus("disconnected");
      return;
    }
    const wait = state.backoff * (0.75 + Math.random() / 2);
    state.backoff = Math.min(state.backoff * 2, 30000);
    setStatus(`connection lost; reconnecting in ${(wait / 1000).toFixed(1)} s`);
    setTimeout(connect, wait);
  };
}

function send(text) {
  if (state.socket && state.socket.readyState === WebSocket.OPEN) {
    state.socket.send(text);
    return true;
  }
  return false;
}

function askWho() {
  if (send("/who")) state.quietWho += 1;
}

function setStatus(text) {
  status.textContent = text;
}

// Every line becomes text nodes in a <p>: nothing a user sends is ever HTML.
function show(text, kind, nick) {
  const line = document.createElement("p");
  line.className = kind;
  if (nick !== undefined) {
    const name = document.createElement("span");
    name.className = "nick";
    name.style.color = colourOf(nick);
    name.textContent = nick;
    line.append(name, document.createTextNode(text.slice(nick.length)));
  } else {
    line.textContent = text;
  }
  const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
  log.append(line);
  if (atBottom) log.scrollTop = log.scrollHeight;
}

// A stable colour per nick: a hue from a hash of the name.
function colourOf(nick) {
  let hash = 0;
  for (const c of nick.toLowerCase()) hash = (hash * 31 + c.codePointAt(0)) >>> 0;
  return `hsl(${hash % 360} 65% 45%)`;
}

function receive(text) {
  if (text.startsWith("* online (")) return whoReply(text);
  if (text.startsWith("! ")) return show(text, "error");
  if (text.startsWith("[pm ")) return show(text, "pm");
  if (text.startsWith("* ")) {
    notice(text);
    return show(text, "notice");
  }
  const colon = text.indexOf(": ");
  if (colon > 0 && !text.slice(0, colon).includes(" ")) {
    const nick = text.slice(0, colon);
    return show(text, nick === state.me ? "me" : "chat", nick);
  }
  show(text, "chat");
}

// Presence notices keep the header's room and member list current.
function notice(text) {
  let m;
  if ((m = /^\* welcome to mio-chat, you are (\S+);/.exec(text))) {
    state.me = m[1];
  } else if ((m = /^\* (\S+) is now (\S+)$/.exec(text))) {
    if (m[1] === state.me) state.me = m[2];
    if (state.members.delete(m[1])) state.members.add(m[2]);
  } else if ((m = /^\* (\S+) joined$/.exec(text))) {
    if (m[1] === state.me && state.pendingRoom) {
      state.room = state.pendingRoom;
      state.pendingRoom = null;
      state.members.clear();
      askWho();
    }
    state.members.add(m[1]);
  } else if ((m = /^\* (\S+) left/.exec(text))) {
    state.members.delete(m[1]);
  }
  renderRoom();
}

function whoReply(text) {
  const m = /^\* online \((\d+)\)(?:: (.*?))?(?: and (\d+) more)?$/.exec(text);
  if (m) {
    state.members = new Set(m[2] ? m[2].split(", ") : []);
    renderRoom();
  }
  if (state.quietWho > 0) {
    state.quietWho -= 1;
  } else {
    show(text, "notice");
  }
}

function renderRoom() {
  roomView.textContent = state.room;
  const names = [...state.members].sort((a, b) => a.toLowerCase().localeCompare(b.toLowerCase()));
  whoView.textContent = `${names.length} here: ${names.join(", ")}`;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const text = input.value;
  if (!text.trim()) return;
  let m;
  if ((m = /^\/nick\s+(\S+)\s*$/i.exec(text))) state.nick = m[1];
  if ((m = /^\/join\s+(\S+)\s*$/i.exec(text))) state.pendingRoom = m[1];
  if (/^\/quit\b/i.test(text)) state.quitting = true;
  if (!send(text)) {
    show("! not connected: your line was not sent", "error");
    return;
  }
  if (!text.startsWith("/") || text.startsWith("//")) {
    show(`${state.me || "you"}: ${text.startsWith("//") ? text.slice(1) : text}`, "me", state.me || "you");
  }
  input.value = "";
});

renderRoom();
connect();
