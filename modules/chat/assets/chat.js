// The chat page's script: a signed asset of the module, the only kind of
// script its page may run (sdk/ABI.md section 15: no inline script, no
// build step, nothing fetched from elsewhere). The runtime renders the page
// complete (templates/chat.html) and hands this script the same state as
// JSON (#chat-state), with the page's texts in its language (#chat-i18n);
// from there the script keeps the page live with the runtime's realtime
// client and the module's JSON API (API.md).
//
// Rules it keeps: every text from people is set as text (textContent or
// text nodes, never innerHTML); every error the API answers is shown next
// to what failed; the page works with the keyboard alone.
import { connect } from "/static/websonic/realtime.js";

// ---------------------------------------------------------------- setup

const root = document.getElementById("chat");
const texts = readJSON("chat-i18n") || {};
const apiTexts = readJSON("chat-errors") || {}; // the API's sentences in the page's language
const initial = readJSON("chat-state") || {};
const lang = document.documentElement.lang || "en";

const MAX_ROOM_SUBS = 60; // + chat.user.ME, chat.presence, chat.admin: under the runtime's 64
const TYPING_EVERY = 3000; // at most one typing frame per 3 s
const TYPING_SHOWN = 6000; // how long "ada is typing…" stays without news
const HEARTBEAT_EVERY = 30000;
const NEAR_TOP = 200; // px from the top that loads the page before
const NEAR_BOTTOM = 48; // px from the bottom that counts as "at the bottom"
const GROUP_GAP = 5 * 60 * 1000; // messages of one author closer than this share a header
const REACTIONS = ["👍", "❤️", "😄", "🎉", "👀", "🙏"];
const PRESENCES = ["online", "away", "dnd", "offline"];
const MAX_AVATAR = 1 << 20;

const $ = (id) => document.getElementById(id);
const el = {
  side: $("chat-side"),
  rooms: $("chat-rooms"),
  convs: $("chat-convs"),
  convsEmpty: $("chat-convs-empty"),
  join: $("chat-join"),
  joinSection: $("chat-join-section"),
  archived: $("chat-archived"),
  archivedSection: $("chat-archived-section"),
  presence: $("chat-presence"),
  presenceError: $("chat-presence-error"),
  meName: $("chat-me-name"),
  meAvatar: $("chat-me-avatar"),
  search: $("chat-search"),
  q: $("chat-q"),
  main: $("chat-main"),
  back: $("chat-back"),
  roomName: $("chat-room-name"),
  roomTopic: $("chat-room-topic"),
  roomActions: $("chat-room-actions"),
  live: $("chat-live"),
  notice: $("chat-notice"),
  noticeText: $("chat-notice-text"),
  error: $("chat-error"),
  scroll: $("chat-scroll"),
  older: $("chat-older"),
  olderButton: $("chat-older-button"),
  messages: $("chat-messages"),
  empty: $("chat-empty"),
  jump: $("chat-jump"),
  typing: $("chat-typing"),
  composer: $("chat-composer"),
  text: $("chat-text"),
  composerError: $("chat-composer-error"),
  mentionList: $("chat-mention-list"),
  joinbox: $("chat-joinbox"),
  joinboxText: $("chat-joinbox-text"),
  joinboxButton: $("chat-joinbox-button"),
  joinboxError: $("chat-joinbox-error"),
  readonly: $("chat-readonly"),
  announce: $("chat-announce"),
  friendsBadge: $("chat-friends-badge"),
  requestsBadge: $("chat-requests-badge"),
};

// S is the page's state; the DOM is drawn from it.
const S = {
  me: initial.me || { user: { id: 0, username: "", display_name: "" }, admin: false, presence: "online" },
  rooms: new Map(), // id -> room (API.md), in the API's order
  open: null, // the open room's id
  readable: false, // the open room's messages can be read
  msgs: new Map(), // the open room's loaded messages, id -> message
  next: null, // cursor of the page before the oldest loaded (null: none)
  loadingOlder: false,
  openToken: 0, // bumped at each openRoom: late answers for another room are dropped
  readSent: new Map(), // room id -> last_id we told the server
  drafts: new Map(), // room id -> unsent text
  roomSubs: new Map(), // room id -> subscription
  confirmed: new Set(), // room ids whose subscription the runtime confirmed
  typing: new Map(), // user id -> {user, timer}
  lastTyping: 0,
  presence: new Map(), // user id -> status
  avatars: new Map(), // user id -> Promise<url|null>
  friends: { friends: [], incoming: [], outgoing: [], blocked: [] },
  requestsPending: 0,
  unseenBelow: 0,
  sending: false,
  kicked: "", // why the user was locked out, when they were
  newLine: null, // the id of the first message that was unread when the room opened
  title: document.title,
};

function readJSON(id) {
  const node = document.getElementById(id);
  if (!node) return null;
  try { return JSON.parse(node.textContent); } catch { return null; }
}

// T translates key through the page's catalogue and fills {name} places.
// A text put in a sentence that holds right-to-left letters or bidi
// controls (a name in Arabic, a reason carrying U+202E) is isolated
// (FSI … PDI), so that it cannot reorder the sentence around it; other
// texts go in as they are.
function T(key, args) {
  let s = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
  if (args) for (const [k, v] of Object.entries(args)) s = s.split("{" + k + "}").join(isolate(String(v)));
  return s;
}

const bidiText = /[\u0590-\u08ff\u200e\u200f\u202a-\u202e\u2066-\u2069\ufb1d-\ufdff\ufe70-\ufefc]|\ud802[\udc00-\udfff]|\ud803[\udc00-\ude7f]|\ud83a[\udc00-\udfff]/;

function isolate(s) { return bidiText.test(s) ? "\u2068" + s + "\u2069" : s; }

// h builds an element. Strings among kids become text nodes, never markup.
// An element given its text gets dir="auto": the text is isolated from
// what surrounds it, and its own direction follows its first letter (a
// name in Arabic, a bidi control in a username, stay in their box).
function h(tag, props = {}, ...kids) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") { node.textContent = v; if (!("dir" in props)) node.dir = "auto"; }
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const kid of kids.flat()) if (kid !== null && kid !== undefined && kid !== false) node.append(kid);
  return node;
}

function show(node, on) { if (node) node.hidden = !on; }

// touchOnly tells a touch screen without a mouse or touchpad (a phone).
function touchOnly() { return matchMedia("(pointer: coarse)").matches && !matchMedia("(any-pointer: fine)").matches; }

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(message, status, code) { super(message); this.status = status; this.code = code; }
}

// api calls the module's JSON API; a failure throws an ApiError whose
// message is the API's sentence for the person.
async function api(method, path, body) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, opts);
  } catch {
    throw new ApiError(T("The server cannot be reached. Check your connection and try again."), 0, "network");
  }
  if (resp.redirected && new URL(resp.url).pathname === "/login") {
    throw new ApiError(T("Your session has ended. Sign in again."), 401, "unauthorized");
  }
  if (resp.status === 204) return null;
  let data = null;
  try { data = await resp.json(); } catch { /* not JSON */ }
  if (!resp.ok) {
    if (resp.status === 401) throw new ApiError(T("Your session has ended. Sign in again."), 401, "unauthorized");
    const msg = data && typeof data.error === "string" && data.error ? apiText(data.error) : T("Something went wrong (error {status}). Try again.", { status: resp.status });
    throw new ApiError(msg, resp.status, data && data.code);
  }
  if (data === null) throw new ApiError(T("The server sent an answer the page does not understand."), resp.status, "internal");
  return data;
}

// apiText is one of the API's sentences in the page's language, when the
// page knows it (it is written as is in the module's code), else as the
// API said it.
// apiPatterns are the API's sentences built at run time ("There is no
// user {a}."): each a regular expression capturing its values, the most
// specific (most literal text) first.
const apiPatterns = Object.keys(apiTexts).filter((k) => /\{[a-z]\}/.test(k)).map((k) => {
  const names = [];
  const source = k.split(/(\{[a-z]\})/).map((part) => {
    if (/^\{[a-z]\}$/.test(part)) { names.push(part); return "([\\s\\S]+?)"; }
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("");
  return { re: new RegExp("^" + source + "$"), names, text: apiTexts[k], weight: k.replace(/\{[a-z]\}/g, "").length };
}).sort((a, b) => b.weight - a.weight);

// apiText is the API's sentence s in the page's language: a sentence the
// module writes as it is, or one of its patterns with the values put in
// (a value that is itself a sentence, such as a field's name, translated).
function apiText(s) {
  if (Object.prototype.hasOwnProperty.call(apiTexts, s)) return apiTexts[s];
  for (const p of apiPatterns) {
    const m = p.re.exec(s);
    if (!m) continue;
    let out = p.text;
    p.names.forEach((name, i) => {
      const v = Object.prototype.hasOwnProperty.call(apiTexts, m[i + 1]) ? apiTexts[m[i + 1]] : m[i + 1];
      out = out.split(name).join(isolate(v));
    });
    return out;
  }
  return s;
}

// say shows msg in the message slot next to a control (role=alert or
// status in the template or as built here); "" clears it.
function say(slot, msg, ok = false) {
  if (!slot) return;
  slot.textContent = msg || "";
  slot.classList.toggle("chat-ok", !!ok);
  slot.classList.toggle("error", !!msg && !ok);
  slot.hidden = !msg;
}

function paneError(msg) { say(el.error, msg); }

let noticeTimer = null;
function notice(msg) {
  el.noticeText.textContent = msg;
  show(el.notice, true);
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => show(el.notice, false), 15000);
}

function announce(msg) {
  // a fresh node each time, so that screen readers read a repeat too
  el.announce.replaceChildren(h("p", { text: msg }));
}

// ---------------------------------------------------------------- rooms

const inRoom = (r) => !!r && (r.member || r.policy === "everyone");
const readable = (r) => !!r && (inRoom(r) || S.me.admin);
const roomTopic = (id) => "chat.room." + id;

function setRooms(list) {
  const old = S.rooms;
  S.rooms = new Map();
  for (const r of list || []) {
    // A room we saw read while its list was fetched keeps no badge; one
    // whose events came after the list was read (a newer message than the
    // list knows) keeps the counts those events made.
    const prev = old.get(r.id);
    if (prev && (prev.last_message_id || 0) > (r.last_message_id || 0)) {
      r.last_message_id = prev.last_message_id;
      r.unread = Math.max(r.unread || 0, prev.unread || 0);
      r.mentions = Math.max(r.mentions || 0, prev.mentions || 0);
    }
    if (prev && r.id === S.open && seen()) { r.unread = 0; r.mentions = 0; }
    S.rooms.set(r.id, r);
  }
}

function unreadLabel(n) { return n > 99 ? "99+" : String(n); }

function otherMember(r) {
  if (r.kind !== "dm" || !Array.isArray(r.members)) return null;
  return r.members.find((u) => u.id !== S.me.user.id) || null;
}

function presenceOf(id) { return S.presence.get(id) || "offline"; }

const presenceText = () => ({
  online: T("online"), away: T("away"), dnd: T("do not disturb"), offline: T("offline"),
});

function dot(userID) {
  const status = presenceOf(userID);
  return h("span", { class: "chat-dot " + status, dataset: { presenceUser: userID }, title: presenceText()[status] },
    h("span", { class: "chat-sr", text: presenceText()[status] }));
}

function roomLabel(r) {
  if (r.kind === "room") return r.name;
  return r.name || T("Conversation");
}

function roomItem(r) {
  const current = r.id === S.open;
  const a = h("a", {
    class: "chat-room" + (current ? " current" : "") + (r.unread ? " unread" : ""),
    href: "/chat/rooms/" + r.id, dataset: { room: r.id }, "aria-current": current ? "page" : null,
  });
  const other = otherMember(r);
  if (other) a.append(dot(other.id));
  else a.append(h("span", { class: "chat-kind " + r.kind, "aria-hidden": "true" }));
  a.append(h("span", { class: "chat-room-name", text: roomLabel(r) }));
  if (r.mentions) a.append(h("span", { class: "chat-badge mention", text: "@" + unreadLabel(r.mentions), title: T("Mentions you") },
    h("span", { class: "chat-sr", text: " " + T("mentions you") })));
  if (r.unread) a.append(h("span", { class: "chat-badge", text: unreadLabel(r.unread) },
    h("span", { class: "chat-sr", text: " " + T("unread") })));
  a.addEventListener("click", (e) => {
    if (e.button !== 0 || e.ctrlKey || e.metaKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    openRoom(r.id, { focus: true });
  });
  return h("li", {}, a);
}

function joinItem(r) {
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  const li = h("li", { class: "chat-joinable" },
    h("a", { class: "chat-room" + (r.id === S.open ? " current" : ""), href: "/chat/rooms/" + r.id, dataset: { room: r.id },
      onclick: (e) => { if (e.button === 0 && !e.ctrlKey && !e.metaKey && !e.shiftKey) { e.preventDefault(); openRoom(r.id, {}); } } },
    h("span", { class: "chat-kind room", "aria-hidden": "true" }), h("span", { class: "chat-room-name", text: r.name })));
  li.append(joinControl(r, slot), slot);
  return li;
}

// joinControl is the button (or state) that asks to join r.
function joinControl(r, slot) {
  if (r.request === "pending") return h("span", { class: "chat-state", text: T("Requested") });
  if (r.policy === "invite" && !S.me.admin) return h("span", { class: "chat-state", text: T("Invitation only") });
  const label = r.policy === "request" && !S.me.admin
    ? (r.request === "refused" ? T("Ask again") : T("Ask to join"))
    : T("Join");
  return h("button", { type: "button", class: "chat-small", "aria-label": label + " " + r.name,
    onclick: (e) => join(r.id, e.currentTarget, slot) }, label);
}

async function join(id, button, slot) {
  say(slot, "");
  if (button) button.disabled = true;
  try {
    const res = await api("POST", `/chat/api/rooms/${id}/join`);
    const r = S.rooms.get(id);
    if (res.state === "member") {
      await refreshRooms();
      openRoom(id, { focus: true });
      announce(T("You joined {room}.", { room: r ? r.name : "" }));
    } else {
      if (r) r.request = "pending";
      renderRooms();
      if (id === S.open) renderComposer();
      notice(T("Request sent: an admin will decide. You will see the answer here."));
    }
  } catch (e) {
    say(slot, e.message);
  } finally {
    if (button && button.isConnected) button.disabled = false;
  }
}

let roomsFrame = 0;
function renderRoomsSoon() {
  if (roomsFrame) return;
  roomsFrame = requestAnimationFrame(() => { roomsFrame = 0; renderRooms(); });
}

// keepFocus runs draw, which rebuilds what is in box, and gives the focus
// back to the new element standing for the one that had it (the closest
// match of selector around it, told by its attribute attr), so that a
// re-render (a resync after a revocation or a reload, a new message
// elsewhere) does not drop a keyboard user's place to the page's body.
function keepFocus(box, selector, attr, draw) {
  const a = document.activeElement;
  const was = a && a !== box && box.contains(a) ? a.closest(selector) : null;
  const key = was && box.contains(was) ? was.getAttribute(attr) : null;
  draw();
  if (key === null || box.contains(document.activeElement)) return;
  const now = [...box.querySelectorAll(selector)].find((n) => n.getAttribute(attr) === key);
  if (now) now.focus({ preventScroll: true });
}

function renderRooms() {
  keepFocus(el.side, "a[data-room]", "data-room", drawRooms);
}

function drawRooms() {
  const rooms = [], convs = [], joinable = [], archived = [];
  for (const r of S.rooms.values()) {
    if (r.archived) archived.push(r);
    else if (r.kind !== "room") convs.push(r);
    else if (inRoom(r)) rooms.push(r);
    else joinable.push(r);
  }
  el.rooms.replaceChildren(...rooms.map(roomItem));
  el.convs.replaceChildren(...convs.map(roomItem));
  show(el.convsEmpty, convs.length === 0);
  el.join.replaceChildren(...joinable.map(joinItem));
  show(el.joinSection, joinable.length > 0);
  el.archived.replaceChildren(...archived.map((r) => (r.kind === "room" && !inRoom(r) && !S.me.admin ? joinItem(r) : roomItem(r))));
  show(el.archivedSection, archived.length > 0);
  let total = 0;
  for (const r of S.rooms.values()) total += r.unread || 0;
  document.title = (total ? "(" + unreadLabel(total) + ") " : "") + S.title;
}

// Loads overtaken by a later one are dropped: under load the answers to two
// quick loads can arrive out of order, and the older must not undo the newer
// (an approved request shown as waiting again, a joined room gone).
const loads = { rooms: { issued: 0, applied: 0 }, requests: { issued: 0, applied: 0 } };
function overtaken(l, n) {
  if (n < l.applied) return true;
  l.applied = n;
  return false;
}

async function refreshRooms() {
  const n = ++loads.rooms.issued;
  const { rooms } = await api("GET", "/chat/api/rooms");
  if (overtaken(loads.rooms, n)) return;
  setRooms(rooms);
  renderRooms();
  if (S.open && S.rooms.has(S.open)) { renderHeader(); renderComposer(); }
  syncSubscriptions();
}

// ---------------------------------------------------------- the room pane

function renderHeader() {
  const r = S.rooms.get(S.open);
  const adding = document.getElementById("chat-add-form");
  if (adding && (!r || Number(adding.dataset.room) !== r.id)) adding.remove();
  el.roomName.textContent = r ? roomLabel(r) : T("No room open");
  el.roomTopic.textContent = r ? topicLine(r) : "";
  show(el.roomTopic, !!(r && topicLine(r)));
  el.roomActions.replaceChildren();
  if (!r) return;
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  const canAdd = !r.archived && (r.kind === "group" ? r.member : r.kind === "room" && S.me.admin && r.policy !== "everyone");
  if (canAdd) {
    el.roomActions.append(h("button", { type: "button", class: "chat-small ghost", "aria-expanded": "false",
      onclick: (e) => addPeopleForm(r, e.currentTarget, slot) }, T("Add someone")));
  }
  const canLeave = (r.kind === "group" || (r.kind === "room" && r.member && r.policy !== "everyone"));
  if (canLeave) {
    el.roomActions.append(h("button", { type: "button", class: "chat-small ghost",
      onclick: (e) => confirmInline(el.roomActions, T("Leave {room}?", { room: roomLabel(r) }), T("Leave"), () => leave(r.id, slot)) }, T("Leave")));
  }
  el.roomActions.append(slot);
}

// addPeopleForm opens, under the room's header, a form that adds someone
// to r by username: a friend to a group, anyone to a room (admins).
function addPeopleForm(r, button, slot) {
  const old = document.getElementById("chat-add-form");
  if (old) { old.remove(); button.setAttribute("aria-expanded", "false"); return; }
  const input = h("input", { id: "chat-add-name", autocomplete: "off", maxlength: "64", required: true,
    list: r.kind === "group" ? "chat-add-friends" : null });
  const friends = r.kind === "group"
    ? h("datalist", { id: "chat-add-friends" }, (S.friends.friends || []).map((u) => h("option", { value: u.username })))
    : null;
  const msg = h("p", { class: "chat-slot", role: "status", hidden: true });
  const form = h("form", { id: "chat-add-form", class: "chat-add-form", dataset: { room: r.id } },
    h("label", { for: "chat-add-name", text: r.kind === "group" ? T("Add a friend to this group (username)") : T("Add someone to this room (username)") }),
    h("div", { class: "chat-row" }, input, friends, h("button", { type: "submit", class: "chat-small" }, T("Add")),
      h("button", { type: "button", class: "chat-small ghost", onclick: () => { form.remove(); button.setAttribute("aria-expanded", "false"); button.focus(); } }, T("Cancel"))),
    msg);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const username = usernameFrom(input);
    if (!username) return;
    say(msg, "");
    try {
      await api("POST", `/chat/api/rooms/${r.id}/members`, { username });
      say(msg, T("{name} was added.", { name: username }), true);
      input.value = "";
      if (r.kind === "group") refreshRooms().catch(() => {});
    } catch (err) { say(msg, err.message); }
  });
  button.setAttribute("aria-expanded", "true");
  el.roomActions.closest(".chat-head").after(form);
  input.focus();
}

function topicLine(r) {
  if (r.kind === "group" && Array.isArray(r.members)) return r.members.map((u) => u.display_name || u.username).join(", ");
  if (r.kind === "dm") { const o = otherMember(r); return o ? "@" + o.username : ""; }
  return r.topic || "";
}

async function leave(id, slot) {
  try {
    await api("POST", `/chat/api/rooms/${id}/leave`);
    await refreshRooms();
    const first = [...S.rooms.values()].find((r) => r.kind === "room" && r.policy === "everyone") || [...S.rooms.values()].find(inRoom);
    if (first) openRoom(first.id, {}); else { S.open = null; renderAll(); }
  } catch (e) {
    say(slot, e.message);
  }
}

function renderComposer() {
  const r = S.rooms.get(S.open);
  const member = inRoom(r);
  const archived = !!(r && r.archived);
  show(el.composer, !!r && member && !archived);
  show(el.readonly, !!r && archived);
  show(el.joinbox, !!r && !member && !archived);
  if (r && !member && !archived) {
    let text;
    if (r.request === "pending") text = T("Your request to join this room is waiting for an admin.");
    else if (r.request === "refused") text = T("Your request to join this room was refused. You may ask again.");
    else if (r.policy === "invite" && !S.me.admin) text = T("This room is by invitation only: an admin adds its members.");
    else if (r.policy === "request" && !S.me.admin) text = T("Ask to join this room: an admin will decide.");
    else text = T("You are not in this room yet.");
    el.joinboxText.textContent = text;
    el.joinboxButton.replaceChildren(joinControl(r, el.joinboxError));
  }
  if (r) el.text.placeholder = T("Message {room}", { room: roomLabel(r) });
}

// ------------------------------------------------------------- messages

function sortedMessages() { return [...S.msgs.values()].sort((a, b) => a.id - b.id); }

function dayKey(m) {
  const d = new Date(m.created_at);
  return isNaN(d) ? "" : d.getFullYear() + "-" + d.getMonth() + "-" + d.getDate();
}

function isCont(prev, m) {
  if (!prev || !prev.author || !m.author || prev.author.id !== m.author.id || m.author.id === 0) return false;
  if (dayKey(prev) !== dayKey(m)) return false;
  return new Date(m.created_at) - new Date(prev.created_at) < GROUP_GAP;
}

const fmtTime = new Intl.DateTimeFormat(lang, { hour: "2-digit", minute: "2-digit" });
const fmtFull = new Intl.DateTimeFormat(lang, { dateStyle: "full", timeStyle: "short" });
const fmtDay = new Intl.DateTimeFormat(lang, { weekday: "long", day: "numeric", month: "long", year: "numeric" });

function dayLabel(m) {
  const d = new Date(m.created_at);
  if (isNaN(d)) return "";
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (d.toDateString() === today.toDateString()) return T("Today");
  if (d.toDateString() === yesterday.toDateString()) return T("Yesterday");
  return fmtDay.format(d);
}

const fmtDate = new Intl.DateTimeFormat(lang, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });

// timeEl shows when iso was: the time of day (messages sit under their
// day), or with dated, the day too unless it is today.
function timeEl(iso, dated = false) {
  const d = new Date(iso);
  if (isNaN(d)) return h("time", {});
  const today = d.toDateString() === new Date().toDateString();
  return h("time", { datetime: iso, title: fmtFull.format(d) }, (dated && !today ? fmtDate : fmtTime).format(d));
}

function daySep(m) {
  return h("li", { class: "chat-day" }, h("span", { text: dayLabel(m) }));
}

// initials of a user, for the avatar's stand-in.
function initials(u) {
  const name = (u && (u.display_name || u.username)) || "?";
  const parts = name.trim().split(/\s+/).filter(Boolean);
  const first = (w) => [...w][0] || "";
  const s = parts.length > 1 ? first(parts[0]) + first(parts[parts.length - 1]) : [...name.trim()].slice(0, 2).join("");
  return s.toUpperCase();
}

// avatarURL resolves to the user's avatar URL, or null when they have
// none: asked once per user (and again after the user changed theirs).
function avatarURL(id) {
  if (!id) return Promise.resolve(null);
  if (!S.avatars.has(id)) {
    const url = "/chat/avatars/" + id;
    S.avatars.set(id, new Promise((resolve) => {
      const img = new Image();
      img.onload = () => resolve(url);
      img.onerror = () => resolve(null);
      img.src = url;
    }));
  }
  return S.avatars.get(id);
}

function avatar(u, big = false) {
  const id = (u && u.id) || 0;
  const span = h("span", { class: "chat-avatar c" + (id % 8) + (big ? " big" : ""), "aria-hidden": "true", text: initials(u) });
  avatarURL(id).then((url) => {
    if (!url) return;
    span.textContent = "";
    span.append(h("img", { src: url, alt: "", loading: "lazy" }));
  });
  return span;
}

// fillText writes text into node as text nodes, with web links made links
// (http and https only) and @mentions marked.
function fillText(node, text) {
  const re = /(https?:\/\/[^\s<>"']+)|(^|[^\w@])(@[A-Za-z0-9_.-]+)/g;
  let last = 0;
  for (const m of text.matchAll(re)) {
    if (m[1]) {
      let raw = m[1];
      const trail = raw.match(/[.,;:!?)\]}]+$/);
      if (trail) raw = raw.slice(0, -trail[0].length);
      node.append(text.slice(last, m.index));
      let url = null;
      try { url = new URL(raw); } catch { /* not a link */ }
      if (url && (url.protocol === "http:" || url.protocol === "https:")) {
        node.append(h("a", { href: url.href, rel: "noopener noreferrer nofollow ugc", target: "_blank", text: raw, tabindex: "-1" }));
      } else node.append(raw);
      last = m.index + raw.length;
    } else {
      const start = m.index + m[2].length;
      node.append(text.slice(last, start));
      const name = m[3].slice(1).replace(/[.-]+$/, "");
      const mine = name.toLowerCase() === (S.me.user.username || "").toLowerCase();
      node.append(h("span", { class: "chat-mention" + (mine ? " me" : ""), text: "@" + name }));
      last = start + 1 + name.length;
    }
  }
  node.append(text.slice(last));
}

function mentionsMe(m) {
  return Array.isArray(m.mentions) && m.mentions.includes(S.me.user.id);
}

function messageEl(m, prev) {
  const mine = m.author && m.author.id === S.me.user.id && m.author.id !== 0;
  const r = S.rooms.get(m.room_id);
  const archived = !!(r && r.archived);
  const li = h("li", {
    class: "chat-msg" + (mine ? " mine" : "") + (m.deleted ? " deleted" : "") + (mentionsMe(m) ? " mentions-me" : "") + (isCont(prev, m) ? " cont" : ""),
    id: "chat-m-" + m.id, dataset: { id: m.id }, tabindex: "-1",
  });
  const who = m.author && m.author.id ? m.author.display_name || m.author.username : T("deleted user");
  li.append(avatar(m.author));
  const body = h("div", { class: "chat-msg-body" });
  const head = h("p", { class: "chat-msg-head" },
    h("strong", { class: "chat-author", text: who }),
    m.author && m.author.username ? h("span", { class: "chat-username", text: "@" + m.author.username }) : null,
    " ", timeEl(m.created_at));
  if (m.edited_at && !m.deleted) head.append(" ", h("span", { class: "chat-edited", title: fmtFull.format(new Date(m.edited_at)), text: T("(edited)") }));
  body.append(head);
  if (m.deleted) body.append(h("p", { class: "chat-msg-text chat-gone", text: T("This message was deleted.") }));
  else {
    const p = h("p", { class: "chat-msg-text", dir: "auto" });
    fillText(p, m.text || "");
    body.append(p);
  }
  if (!m.deleted && Array.isArray(m.reactions) && m.reactions.length) {
    body.append(h("ul", { class: "chat-reactions", "aria-label": T("Reactions") },
      m.reactions.map((x) => h("li", {}, h("button", {
        type: "button", class: "chat-reaction" + (x.mine ? " mine" : ""), "aria-pressed": x.mine ? "true" : "false", tabindex: "-1",
        title: T("{n} reacted with {emoji}", { n: x.count, emoji: x.emoji }),
        disabled: archived || null,
        onclick: () => react(m, x.emoji, li),
      }, x.emoji + " " + x.count)))));
  }
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  body.append(slot);
  li.append(body);
  if (!m.deleted && !archived) {
    const actions = h("div", { class: "chat-msg-actions", role: "group", "aria-label": T("Message actions") });
    if (inRoom(r)) actions.append(h("button", { type: "button", class: "chat-icon", "aria-label": T("Add a reaction"), title: T("Add a reaction"), tabindex: "-1",
      "aria-haspopup": "true", onclick: (e) => reactionPicker(m, li, e.currentTarget) }, "☺"));
    if (mine) actions.append(h("button", { type: "button", class: "chat-icon", "aria-label": T("Edit"), title: T("Edit"), tabindex: "-1",
      onclick: () => editMessage(m, li) }, "✎"));
    if (mine || S.me.admin) actions.append(h("button", { type: "button", class: "chat-icon", "aria-label": T("Delete"), title: T("Delete"), tabindex: "-1",
      onclick: () => confirmInline(actions, T("Delete this message?"), T("Delete"), () => deleteMessage(m, slot)) }, "🗑"));
    li.append(actions);
  }
  return li;
}

// renderMessages draws the open room's messages anew.
function renderMessages() {
  const list = sortedMessages();
  const frag = document.createDocumentFragment();
  let prev = null;
  for (const m of list) {
    if (!prev || dayKey(prev) !== dayKey(m)) frag.append(daySep(m));
    frag.append(messageEl(m, prev));
    prev = m;
  }
  keepFocus(el.messages, ".chat-msg", "id", () => el.messages.replaceChildren(frag));
  drawNewLine();
  renderOlder();
  show(el.empty, S.readable && list.length === 0 && S.next === null);
}

// renderOlder shows the button that loads the page before. It is never
// disabled while loading (aria-disabled instead; loadOlder ignores a second
// press): a keyboard user's focus would fall to the page's body, and Tab
// onto it scrolls the pane to the top, which loads by itself. When there is
// nothing older left, its focus goes to the oldest message.
function renderOlder() {
  const shown = S.readable && S.next !== null;
  if (!shown && document.activeElement === el.olderButton) {
    const first = el.messages.querySelector(".chat-msg");
    if (first) first.focus({ preventScroll: true });
  }
  show(el.older, shown);
  el.olderButton.setAttribute("aria-disabled", S.loadingOlder ? "true" : "false");
  el.olderButton.textContent = S.loadingOlder ? T("Loading…") : T("Load older messages");
}

function elFor(id) { return document.getElementById("chat-m-" + id); }

// fixBoundary makes m's element agree with the message before it: a day
// separator when the day changes, a shared header when the author goes on.
function fixBoundary(prev, m) {
  const node = elFor(m.id);
  if (!node) return;
  const top = topOf(node);
  const sep = top.previousElementSibling && top.previousElementSibling.classList.contains("chat-day") ? top.previousElementSibling : null;
  const need = !prev || dayKey(prev) !== dayKey(m);
  if (need && !sep) top.before(daySep(m));
  if (!need && sep) sep.remove();
  node.classList.toggle("cont", isCont(prev, m));
}

// topOf is node, or the "new messages" line just above it.
function topOf(node) {
  const p = node.previousElementSibling;
  return p && p.classList.contains("chat-new") ? p : node;
}

// addMessage puts m (new, or a newer copy of one shown) in the open room.
function addMessage(m) {
  if (!m || m.room_id !== S.open) return;
  const had = S.msgs.has(m.id);
  S.msgs.set(m.id, m);
  const list = sortedMessages();
  const i = list.findIndex((x) => x.id === m.id);
  const prev = i > 0 ? list[i - 1] : null;
  if (had && elFor(m.id)) {
    elFor(m.id).replaceWith(messageEl(m, prev));
    return;
  }
  const after = i + 1 < list.length ? list[i + 1] : null;
  if (after && elFor(after.id)) {
    const anchor = topOf(elFor(after.id));
    const before = anchor.previousElementSibling && anchor.previousElementSibling.classList.contains("chat-day") ? anchor.previousElementSibling : anchor;
    before.before(messageEl(m, prev));
    fixBoundary(prev, m);
    fixBoundary(m, after);
  } else {
    const wasBottom = atBottom();
    el.messages.append(messageEl(m, prev));
    fixBoundary(prev, m);
    const mine = m.author && m.author.id === S.me.user.id;
    if (wasBottom || mine) scrollToBottom();
    else { S.unseenBelow++; renderJump(); }
  }
  show(el.empty, false);
}

// removeMessage shows m as deleted.
function markDeleted(id) {
  const m = S.msgs.get(id);
  if (!m) return;
  addMessage({ ...m, deleted: true, text: "", reactions: [] });
}

async function fetchMessage(id) {
  return api("GET", "/chat/api/messages/" + id);
}

// setPage takes an answer of GET …/messages (newest first) as the open
// room's newest page, keeping nothing older than it when it does not join
// what is loaded (more than a page came in meanwhile).
function setPage(page) {
  const got = page.messages || [];
  const loaded = sortedMessages();
  const newestLoaded = loaded.length ? loaded[loaded.length - 1].id : 0;
  const oldestGot = got.length ? Math.min(...got.map((m) => m.id)) : Infinity;
  const joins = loaded.length > 0 && (page.next === null || oldestGot <= newestLoaded);
  if (!joins) { S.msgs = new Map(); S.next = page.next; }
  for (const m of got) S.msgs.set(m.id, m);
  if (!joins) S.next = page.next;
  renderMessages();
}

function atBottom() {
  const s = el.scroll;
  return s.scrollHeight - s.scrollTop - s.clientHeight < NEAR_BOTTOM;
}

function scrollToBottom() {
  el.scroll.scrollTop = el.scroll.scrollHeight;
  S.unseenBelow = 0;
  renderJump();
}

function renderJump() {
  show(el.jump, S.unseenBelow > 0);
  el.jump.textContent = S.unseenBelow === 1 ? T("1 new message ↓") : T("{n} new messages ↓", { n: S.unseenBelow });
}

function seen() {
  return document.visibilityState === "visible" && S.open !== null && S.readable && atBottom();
}

let readTimer = null;
function markReadSoon() {
  clearTimeout(readTimer);
  readTimer = setTimeout(markRead, 300);
}

// markRead moves the open room's read marker to its newest message once
// the person has seen it (the page is visible and scrolled to the end).
function markRead() {
  if (!seen()) return;
  const r = S.rooms.get(S.open);
  const list = sortedMessages();
  if (!r || !list.length) return;
  const newest = list[list.length - 1].id;
  if (r.unread || r.mentions) { r.unread = 0; r.mentions = 0; renderRooms(); }
  S.unseenBelow = 0;
  renderJump();
  const room = S.open;
  if ((S.readSent.get(room) || 0) >= newest) return;
  S.readSent.set(room, newest);
  api("POST", `/chat/api/rooms/${room}/read`, { last_id: newest }).catch((e) => {
    S.readSent.delete(room);
    paneError(e.message);
  });
}

async function loadOlder() {
  if (S.loadingOlder || S.next === null || !S.open || !S.readable) return;
  S.loadingOlder = true;
  renderOlder();
  const token = S.openToken;
  try {
    const page = await api("GET", `/chat/api/rooms/${S.open}/messages?before=${encodeURIComponent(S.next)}`);
    if (token !== S.openToken) return;
    const firstOld = sortedMessages()[0] || null;
    const older = (page.messages || []).filter((m) => !S.msgs.has(m.id)).sort((a, b) => a.id - b.id);
    // What the person reads stays where it is: the first message shown
    // keeps its place in the pane while the page before goes above it.
    const anchor = firstOld ? elFor(firstOld.id) : null;
    const top0 = anchor ? anchor.getBoundingClientRect().top : 0;
    const frag = document.createDocumentFragment();
    let prev = null;
    for (const m of older) {
      S.msgs.set(m.id, m);
      if (!prev || dayKey(prev) !== dayKey(m)) frag.append(daySep(m));
      frag.append(messageEl(m, prev));
      prev = m;
    }
    el.messages.prepend(frag);
    if (firstOld && prev) fixBoundary(prev, firstOld);
    S.next = page.next;
    if (anchor) el.scroll.scrollTop += anchor.getBoundingClientRect().top - top0;
    if (older.length) announce(T("{n} older messages loaded.", { n: older.length }));
  } catch (e) {
    if (token === S.openToken) paneError(e.message);
  } finally {
    if (token === S.openToken) { S.loadingOlder = false; renderOlder(); show(el.empty, S.msgs.size === 0 && S.next === null); }
    else S.loadingOlder = false;
  }
  if (token === S.openToken) fillUp();
}

// fillUp loads older pages until the pane scrolls (or the room's start).
function fillUp() {
  if (S.next !== null && !S.loadingOlder && el.scroll.scrollHeight <= el.scroll.clientHeight + NEAR_TOP) loadOlder();
}

async function openRoom(id, { push = true, focus = false, jumpTo = null } = {}) {
  const r = S.rooms.get(id);
  if (S.open !== null) S.drafts.set(S.open, el.text.value);
  paneError("");
  closeMentions();
  S.open = r ? id : null;
  S.readable = readable(r);
  S.msgs = new Map();
  S.next = null;
  S.loadingOlder = false;
  S.unseenBelow = 0;
  S.lastTyping = 0;
  S.newLine = null;
  for (const t of S.typing.values()) clearTimeout(t.timer);
  S.typing.clear();
  const token = ++S.openToken;
  if (push) history.pushState({ room: id }, "", "/chat/rooms/" + id);
  root.dataset.view = "room";
  el.text.value = S.drafts.get(id) || "";
  autoSize();
  renderAll();
  if (!r) { paneError(T("No such room.")); return; }
  syncSubscriptions();
  markLive();
  if (focus) (inRoom(r) && !r.archived ? el.text : el.roomName).focus({ preventScroll: true });
  if (!S.readable) return;
  el.messages.setAttribute("aria-busy", "true");
  try {
    const page = await api("GET", `/chat/api/rooms/${id}/messages`);
    if (token !== S.openToken) return;
    S.next = page.next;
    for (const m of page.messages || []) S.msgs.set(m.id, m);
    renderMessages();
    const divider = markUnread(r.unread || 0);
    scrollToBottom();
    if (divider && divider.offsetTop < el.scroll.scrollHeight - el.scroll.clientHeight) {
      el.scroll.scrollTop = Math.max(0, divider.offsetTop - 8); // the first unread at the top, not the last
    }
    fillUp();
    markReadSoon();
    if (jumpTo) jumpToMessage(jumpTo);
  } catch (e) {
    if (token === S.openToken) paneError(e.message);
  } finally {
    if (token === S.openToken) el.messages.removeAttribute("aria-busy");
  }
}

// markUnread puts a "new messages" line above the first of the last n
// messages of others (the room's unread count), and returns it (null for
// none).
function markUnread(n) {
  if (n <= 0) return null;
  const list = sortedMessages();
  let first = null;
  for (let i = list.length - 1; i >= 0 && n > 0; i--) {
    const m = list[i];
    if (m.author && m.author.id === S.me.user.id) continue;
    if (!m.deleted) n--;
    first = m;
  }
  S.newLine = first ? first.id : null;
  return drawNewLine();
}

// drawNewLine draws the "new messages" line above message S.newLine.
function drawNewLine() {
  const node = S.newLine !== null && elFor(S.newLine);
  if (!node) return null;
  const line = h("li", { class: "chat-new", id: "chat-new-line" }, h("span", { text: T("New messages") }));
  node.before(line);
  return line;
}

async function jumpToMessage(id) {
  const token = S.openToken;
  for (let i = 0; i < 40 && !S.msgs.has(id) && S.next !== null && S.next > id - 1; i++) {
    await loadOlder();
    if (token !== S.openToken) return;
  }
  const node = elFor(id);
  if (!node) { notice(T("That message is no longer here.")); return; }
  node.scrollIntoView({ block: "center" });
  node.classList.remove("flash");
  void node.offsetWidth;
  node.classList.add("flash");
  node.focus({ preventScroll: true });
}

function renderAll() {
  renderRooms();
  renderHeader();
  renderMessages();
  renderComposer();
  renderTyping();
}

// -------------------------------------------------- composer and editing

function autoSize() {
  el.text.style.height = "auto";
  el.text.style.height = Math.min(el.text.scrollHeight + 2, 200) + "px";
}

async function send() {
  const text = el.text.value.trim();
  if (!text || S.sending || !S.open) return;
  const room = S.open;
  S.sending = true;
  el.composer.setAttribute("aria-busy", "true");
  say(el.composerError, "");
  try {
    const m = await api("POST", `/chat/api/rooms/${room}/messages`, { text });
    if (S.open === room && el.text.value.trim() === text) { el.text.value = ""; autoSize(); }
    S.drafts.delete(room);
    S.lastTyping = 0;
    if (m && m.id) {
      if (S.open === room) { addMessage(m); scrollToBottom(); markReadSoon(); }
      const r = S.rooms.get(room);
      if (r) r.last_message_id = Math.max(r.last_message_id || 0, m.id);
    }
  } catch (e) {
    say(el.composerError, e.message);
  } finally {
    S.sending = false;
    el.composer.removeAttribute("aria-busy");
  }
}

function typing() {
  if (!S.open || !S.roomSubs.has(S.open) || !el.text.value.trim()) return;
  const now = Date.now();
  if (now - S.lastTyping < TYPING_EVERY) return;
  S.lastTyping = now;
  rt.send(roomTopic(S.open), { type: "typing" });
}

function editMessage(m, li) {
  if (li.querySelector(".chat-edit")) return;
  const textNode = li.querySelector(".chat-msg-text");
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  const area = h("textarea", { class: "chat-edit-text", rows: "2", "aria-label": T("Edit your message") });
  area.value = m.text;
  const form = h("form", { class: "chat-edit" }, area,
    h("div", { class: "chat-row" },
      h("button", { type: "submit", class: "chat-small" }, T("Save")),
      h("button", { type: "button", class: "chat-small ghost", onclick: () => cancel() }, T("Cancel")),
      h("span", { class: "chat-hint", text: T("Enter to save, Escape to cancel") })),
    slot);
  const cancel = () => { form.remove(); show(textNode, true); li.focus({ preventScroll: true }); };
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const text = area.value.trim();
    if (!text) { say(slot, T("A message cannot be empty. To remove it, delete it.")); return; }
    if (text === m.text) { cancel(); return; }
    try {
      const got = await api("PATCH", "/chat/api/messages/" + m.id, { text });
      addMessage(got);
    } catch (err) {
      say(slot, err.message);
    }
  });
  area.addEventListener("keydown", (e) => {
    if (e.key === "Escape") { e.preventDefault(); cancel(); }
    else if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit(); }
  });
  show(textNode, false);
  textNode.after(form);
  area.focus();
  area.setSelectionRange(area.value.length, area.value.length);
}

async function deleteMessage(m, slot) {
  try {
    await api("DELETE", "/chat/api/messages/" + m.id);
    markDeleted(m.id);
  } catch (e) {
    say(slot, e.message);
  }
}

async function react(m, emoji, li) {
  const slot = li.querySelector(".chat-slot");
  try {
    const got = await api("POST", `/chat/api/messages/${m.id}/reactions`, { emoji });
    addMessage(got);
  } catch (e) {
    say(slot, e.message);
  }
}

function reactionPicker(m, li, button) {
  const old = li.querySelector(".chat-picker");
  if (old) { old.remove(); button.setAttribute("aria-expanded", "false"); return; }
  const picker = h("div", { class: "chat-picker", role: "group", "aria-label": T("Pick a reaction") },
    REACTIONS.map((emoji) => h("button", { type: "button", class: "chat-icon", "aria-label": T("React with {emoji}", { emoji }),
      onclick: () => { picker.remove(); button.setAttribute("aria-expanded", "false"); react(m, emoji, li); } }, emoji)));
  picker.addEventListener("keydown", (e) => { if (e.key === "Escape") { picker.remove(); button.setAttribute("aria-expanded", "false"); button.focus(); } });
  button.setAttribute("aria-expanded", "true");
  li.querySelector(".chat-msg-actions").after(picker);
  picker.querySelector("button").focus();
}

// confirmInline asks question in place of container's content until the
// person says yes (onYes) or no.
function confirmInline(container, question, yes, onYes) {
  const kept = [...container.childNodes];
  const restore = () => { container.replaceChildren(...kept); const b = container.querySelector("button"); if (b) b.focus(); };
  const no = h("button", { type: "button", class: "chat-small ghost", onclick: restore }, T("Cancel"));
  container.replaceChildren(h("span", { class: "chat-confirm", role: "alert", text: question }),
    h("button", { type: "button", class: "chat-small danger", onclick: () => { restore(); onYes(); } }, yes), no);
  no.focus();
}

// -------------------------------------------------------------- mentions

let mention = null; // {start, items, index}

function mentionCandidates() {
  const seen = new Map();
  const add = (u) => { if (u && u.id && u.username && u.id !== S.me.user.id && !seen.has(u.id)) seen.set(u.id, u); };
  const r = S.rooms.get(S.open);
  if (r && Array.isArray(r.members)) r.members.forEach(add);
  for (const m of [...S.msgs.values()].reverse()) add(m.author);
  for (const f of S.friends.friends) add(f);
  return [...seen.values()];
}

function updateMentions() {
  const pos = el.text.selectionStart;
  const before = el.text.value.slice(0, pos);
  const m = before.match(/(^|[^\w@])@([A-Za-z0-9_.-]{0,32})$/);
  if (!m) { closeMentions(); return; }
  const q = m[2].toLowerCase();
  const items = mentionCandidates().filter((u) => u.username.toLowerCase().startsWith(q) || (u.display_name || "").toLowerCase().startsWith(q)).slice(0, 8);
  if (!items.length) { closeMentions(); return; }
  mention = { start: pos - m[2].length - 1, items, index: 0 };
  renderMentions();
}

function renderMentions() {
  el.mentionList.replaceChildren(...mention.items.map((u, i) => h("li", {
    id: "chat-mention-" + i, role: "option", class: "chat-option", "aria-selected": i === mention.index ? "true" : "false",
    onmousedown: (e) => { e.preventDefault(); pickMention(i); },
  }, avatar(u), h("span", { text: u.display_name || u.username }), h("span", { class: "chat-username", text: " @" + u.username }))));
  show(el.mentionList, true);
  el.text.setAttribute("aria-activedescendant", "chat-mention-" + mention.index);
}

function closeMentions() {
  mention = null;
  show(el.mentionList, false);
  el.text.removeAttribute("aria-activedescendant");
}

function pickMention(i) {
  const u = mention.items[i];
  const v = el.text.value, pos = el.text.selectionStart;
  const insert = "@" + u.username + " ";
  el.text.value = v.slice(0, mention.start) + insert + v.slice(pos);
  const at = mention.start + insert.length;
  el.text.setSelectionRange(at, at);
  closeMentions();
  el.text.focus();
  autoSize();
}

// ---------------------------------------------------------------- typing

function showTyping(u) {
  const t = S.typing.get(u.id);
  if (t) clearTimeout(t.timer);
  S.typing.set(u.id, { user: u, timer: setTimeout(() => { S.typing.delete(u.id); renderTyping(); }, TYPING_SHOWN) });
  renderTyping();
}

function stopTyping(id) {
  const t = S.typing.get(id);
  if (!t) return;
  clearTimeout(t.timer);
  S.typing.delete(id);
  renderTyping();
}

function renderTyping() {
  const names = [...S.typing.values()].map((t) => t.user.display_name || t.user.username);
  let s = "";
  if (names.length === 1) s = T("{name} is typing…", { name: names[0] });
  else if (names.length === 2) s = T("{a} and {b} are typing…", { a: names[0], b: names[1] });
  else if (names.length > 2) s = T("Several people are typing…");
  el.typing.textContent = s;
}

// -------------------------------------------------------------- realtime

const rt = connect({
  state(s, code) {
    if (s === "open") {
      el.live.textContent = T("Live");
      el.live.className = "chat-live on";
      return;
    }
    el.live.className = "chat-live off";
    if (code === 4001) {
      el.live.textContent = T("Signed out");
      paneError(S.kicked || T("Your session has ended. Sign in again."));
      el.error.append(" ", h("a", { href: "/login?next=" + encodeURIComponent(location.pathname), text: T("Sign in") }));
    } else el.live.textContent = T("Reconnecting…");
  },
  error(code, message) {
    if (code === "refused") return; // a typing frame the module did not take: nothing to show
    if (code === "rate_limited") return;
    console.warn("chat realtime:", code, message);
  },
});

function roomsToFollow() {
  const ids = [...S.rooms.values()].filter((r) => inRoom(r) && !r.archived)
    .sort((a, b) => (b.last_message_id || 0) - (a.last_message_id || 0)).map((r) => r.id).slice(0, MAX_ROOM_SUBS);
  if (S.open !== null && S.readable && !ids.includes(S.open)) {
    if (ids.length >= MAX_ROOM_SUBS) ids.pop();
    ids.push(S.open);
  }
  return new Set(ids);
}

function syncSubscriptions() {
  const want = roomsToFollow();
  for (const [id, sub] of S.roomSubs) if (!want.has(id)) { sub.close(); S.roomSubs.delete(id); S.confirmed.delete(id); }
  for (const id of want) {
    if (S.roomSubs.has(id)) continue;
    S.roomSubs.set(id, rt.subscribe(roomTopic(id), {
      event: (ev) => onRoomEvent(id, ev),
      subscribed: () => { S.confirmed.add(id); markLive(); resyncSoon(); },
      reload: () => resyncSoon(),
      refused: (reason) => {
        S.roomSubs.delete(id);
        S.confirmed.delete(id);
        markLive();
        if (reason === "revoked") resyncSoon(); // taken out of the room: the list says what is left
      },
    }));
  }
}

// markLive tells (data-live-room) whether the open room's events arrive:
// its subscription was confirmed.
function markLive() {
  if (S.open !== null && S.confirmed.has(S.open)) root.dataset.liveRoom = String(S.open);
  else delete root.dataset.liveRoom;
}

let resyncTimer = null;
function resyncSoon() {
  clearTimeout(resyncTimer);
  resyncTimer = setTimeout(resync, 400);
}

// resync reads the rooms and the open room's newest page again: after a
// subscription starts (what happened between the page's rendering and
// now) and after a "reload" (events were missed).
async function resync() {
  try {
    await refreshRooms();
  } catch (e) {
    paneError(e.message);
    return;
  }
  if (S.open === null || !S.readable) return;
  const token = S.openToken, wasBottom = atBottom();
  try {
    const page = await api("GET", `/chat/api/rooms/${S.open}/messages`);
    if (token !== S.openToken) return;
    setPage(page);
    if (wasBottom) scrollToBottom();
    markReadSoon();
  } catch (e) {
    if (token === S.openToken) paneError(e.message);
  }
}

// keepMine gives m's reactions the reader's own "mine" from the copy the
// page has: a room's events are the same for every reader, "mine" false
// for all (the reader's own toggles come back from the API, with theirs).
function keepMine(m) {
  const old = S.msgs.get(m.id);
  if (!Array.isArray(m.reactions)) return m;
  const mine = new Set(old && Array.isArray(old.reactions) ? old.reactions.filter((x) => x.mine).map((x) => x.emoji) : []);
  return { ...m, reactions: m.reactions.map((x) => ({ ...x, mine: mine.has(x.emoji) })) };
}

async function onRoomEvent(roomID, ev) {
  if (!ev || typeof ev !== "object") return;
  const r = S.rooms.get(roomID);
  const open = roomID === S.open && S.readable;
  switch (ev.kind) {
    case "message": {
      let m = ev.message ? keepMine(ev.message) : null;
      const id = m ? m.id : ev.id;
      if (r) r.last_message_id = Math.max(r.last_message_id || 0, id || 0);
      if (!m && (open || r)) {
        try { m = await fetchMessage(id); } catch (e) { if (open) paneError(e.message); return; }
      }
      if (!m) return;
      const mine = m.author && m.author.id === S.me.user.id;
      if (m.author) stopTyping(m.author.id);
      if (open && roomID === S.open) {
        const fresh = !S.msgs.has(m.id);
        addMessage(m);
        if (fresh && !mine) {
          announce(T("{name} in {room}: {text}", { name: m.author.display_name || m.author.username, room: r ? roomLabel(r) : "", text: m.text }));
          if (seen()) markReadSoon();
          else if (r) { r.unread = Math.min(100, (r.unread || 0) + 1); renderRoomsSoon(); }
        }
      } else if (r && !mine) {
        r.unread = Math.min(100, (r.unread || 0) + 1);
        renderRoomsSoon();
      }
      break;
    }
    case "edit":
    case "reaction": {
      if (!open || roomID !== S.open || !S.msgs.has(ev.message ? ev.message.id : ev.id)) return;
      let m = ev.message ? keepMine(ev.message) : null;
      if (!m) { try { m = await fetchMessage(ev.id); } catch (e) { paneError(e.message); return; } }
      if (roomID === S.open) addMessage(m);
      break;
    }
    case "delete":
      if (open) markDeleted(ev.id);
      break;
    case "typing":
      if (open && ev.user && ev.user.id !== S.me.user.id) showTyping(ev.user);
      break;
    case "room": {
      if (!ev.room || !r) { resyncSoon(); return; }
      const { member, request, unread, mentions, last_message_id, ...shared } = ev.room;
      Object.assign(r, shared);
      renderRooms();
      if (roomID === S.open) { renderHeader(); renderComposer(); renderMessages(); }
      break;
    }
    case "member":
      if (ev.user && ev.user.id === S.me.user.id) resyncSoon();
      else if (r && r.kind === "group") resyncSoon();
      break;
  }
}

function onUserEvent(ev) {
  if (!ev || typeof ev !== "object") return;
  switch (ev.kind) {
    case "request": {
      const q = ev.request;
      if (!q || !q.room) return;
      const r = S.rooms.get(q.room.id);
      if (q.state === "approved") {
        notice(T("Your request to join {room} was approved.", { room: q.room.name }));
        refreshRooms().catch((e) => paneError(e.message));
      } else if (q.state === "refused") {
        notice(q.reason ? T("Your request to join {room} was refused: {reason}", { room: q.room.name, reason: q.reason })
          : T("Your request to join {room} was refused.", { room: q.room.name }));
        if (r) { r.request = "refused"; renderRooms(); if (r.id === S.open) renderComposer(); }
      }
      break;
    }
    case "room_added":
      refreshRooms().catch((e) => paneError(e.message));
      break;
    case "room_removed":
      refreshRooms().then(() => {
        if (ev.room_id === S.open && !S.rooms.has(ev.room_id)) {
          S.open = null;
          renderAll();
          paneError(T("You are no longer in this room."));
        }
      }).catch((e) => paneError(e.message));
      break;
    case "friend_request":
      loadFriends();
      if (ev.request && ev.request.user) notice(T("{name} sent you a friend request.", { name: ev.request.user.display_name || ev.request.user.username }));
      break;
    case "friends":
      loadFriends();
      break;
    case "mention": {
      const r = S.rooms.get(ev.room_id);
      if (!r || (ev.room_id === S.open && seen())) return;
      r.mentions = Math.min(100, (r.mentions || 0) + 1);
      renderRoomsSoon();
      break;
    }
    case "kicked":
      S.kicked = ev.reason
        ? T("You are locked out of the chat until {until}: {reason}", { until: untilText(ev.until), reason: ev.reason })
        : T("You are locked out of the chat until {until}.", { until: untilText(ev.until) });
      paneError(S.kicked);
      break;
  }
}

function untilText(iso) {
  const d = new Date(iso);
  return isNaN(d) ? String(iso || "") : fmtFull.format(d);
}

function onPresence(ev) {
  if (!ev || ev.kind !== "presence") return;
  S.presence.set(ev.user_id, ev.status);
  const text = presenceText()[ev.status] || ev.status;
  for (const node of document.querySelectorAll(`[data-presence-user="${Number(ev.user_id)}"]`)) {
    node.className = "chat-dot " + ev.status;
    node.title = text;
    node.replaceChildren(h("span", { class: "chat-sr", text }));
  }
}

function heartbeat() { rt.send("chat.presence", { type: "heartbeat" }); }

// ---------------------------------------------------------------- friends

async function loadFriends() {
  const before = JSON.stringify(S.friends);
  try {
    S.friends = await api("GET", "/chat/api/friends");
    for (const f of S.friends.friends || []) if (f.presence) S.presence.set(f.id, f.presence);
    renderRoomsSoon();
  } catch (e) {
    say($("chat-friends-error"), e.message);
  }
  const n = (S.friends.incoming || []).length;
  el.friendsBadge.replaceChildren(n ? unreadLabel(n) : "", h("span", { class: "chat-sr", text: " " + T("friend requests") }));
  show(el.friendsBadge, n > 0);
  if (JSON.stringify(S.friends) === before) return; // nothing new: the lists stay (and what one was clicking)
  if ($("chat-friends-dialog").open) renderFriends();
  if ($("chat-group-dialog").open) renderGroupFriends();
}

function personLine(u, ...extra) {
  return h("span", { class: "chat-person" }, avatar(u),
    h("span", { class: "chat-person-name" }, h("strong", { text: u.display_name || u.username }), " ", h("span", { class: "chat-username", text: "@" + u.username })),
    ...extra);
}

function personRow(u, extra, actions) {
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  const bar = h("span", { class: "chat-row-actions" });
  const li = h("li", {}, personLine(u, ...(extra || [])), bar, slot);
  for (const [label, run, opts = {}] of actions) {
    const b = h("button", { type: "button", class: "chat-small" + (opts.ghost ? " ghost" : "") + (opts.danger ? " danger" : ""), "aria-label": label + " " + (u.display_name || u.username) }, label);
    b.addEventListener("click", async () => {
      const go = async () => {
        say(slot, "");
        b.disabled = true;
        try { await run(); } catch (e) { say(slot, e.message); } finally { if (b.isConnected) b.disabled = false; }
      };
      if (opts.confirm) confirmInline(bar, opts.confirm, label, go); else go();
    });
    bar.append(b);
  }
  return li;
}

function renderFriends() {
  const F = S.friends;
  const who = (u) => u.display_name || u.username;
  const list = (id, items, empty) => {
    const ul = $(id);
    ul.replaceChildren(...items);
    if (!items.length) ul.append(h("li", { class: "chat-muted", text: empty }));
  };
  list("chat-incoming", (F.incoming || []).map((q) => personRow(q.user, null, [
    [T("Accept"), async () => { await api("POST", `/chat/api/friends/requests/${q.id}/accept`); announce(T("You and {name} are now friends.", { name: who(q.user) })); await loadFriends(); }],
    [T("Refuse"), async () => { await api("POST", `/chat/api/friends/requests/${q.id}/refuse`); await loadFriends(); }, { ghost: true }],
  ])), T("No requests."));
  list("chat-outgoing", (F.outgoing || []).map((q) => personRow(q.user, null, [
    [T("Cancel request"), async () => { await api("POST", `/chat/api/friends/requests/${q.id}/cancel`); await loadFriends(); }, { ghost: true }],
  ])), T("No requests."));
  list("chat-friend-list", (F.friends || []).map((u) => personRow(u, [dot(u.id)], [
    [T("Message"), async () => { await startDM(u.username); }],
    [T("Remove"), async () => { await api("DELETE", `/chat/api/friends/${u.id}`); await loadFriends(); }, { ghost: true, confirm: T("Remove {name} from your friends?", { name: who(u) }) }],
    [T("Block"), async () => { await api("POST", "/chat/api/blocks", { username: u.username }); await loadFriends(); }, { danger: true, confirm: T("Block {name}? You will no longer hear from them.", { name: who(u) }) }],
  ])), T("No friends yet: add someone by their username."));
  list("chat-blocked", (F.blocked || []).map((u) => personRow(u, null, [
    [T("Unblock"), async () => { await api("DELETE", `/chat/api/blocks/${u.id}`); await loadFriends(); }, { ghost: true }],
  ])), T("Nobody is blocked."));
}

async function startDM(username) {
  const room = await api("POST", "/chat/api/dms", { username });
  await refreshRooms();
  closeDialogs();
  openRoom(room.id, { focus: true });
}

function usernameFrom(input) { return input.value.trim().replace(/^@/, ""); }

function wireForms() {
  $("chat-friend-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("chat-friend-name"), slot = $("chat-friend-add-msg");
    const username = usernameFrom(input);
    if (!username) return;
    say(slot, "");
    try {
      const res = await api("POST", "/chat/api/friends/requests", { username });
      const name = res.user ? res.user.display_name || res.user.username : username;
      say(slot, res.state === "accepted" ? T("You and {name} are now friends.", { name }) : T("Request sent to {name}.", { name }), true);
      input.value = "";
      await loadFriends();
    } catch (err) { say(slot, err.message); }
  });
  $("chat-block-add").addEventListener("submit", async (e) => {
    e.preventDefault();
    const input = $("chat-block-name"), slot = $("chat-block-add-msg");
    const username = usernameFrom(input);
    if (!username) return;
    say(slot, "");
    try {
      await api("POST", "/chat/api/blocks", { username });
      say(slot, T("{name} is blocked.", { name: username }), true);
      input.value = "";
      await loadFriends();
    } catch (err) { say(slot, err.message); }
  });
  $("chat-group-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const slot = $("chat-group-msg");
    const name = $("chat-group-name").value.trim();
    const usernames = [...document.querySelectorAll("#chat-group-friends input:checked")].map((c) => c.value);
    say(slot, "");
    try {
      const room = await api("POST", "/chat/api/groups", { name, usernames });
      $("chat-group-form").reset();
      await refreshRooms();
      closeDialogs();
      openRoom(room.id, { focus: true });
    } catch (err) { say(slot, err.message); }
  });
  $("chat-profile-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const slot = $("chat-profile-msg");
    say(slot, "");
    try {
      const p = await api("PATCH", "/chat/api/profile", { display_name: $("chat-display-name").value.trim(), about: $("chat-about").value.trim() });
      if (p && p.user) { S.me.user = { ...S.me.user, ...p.user }; renderMe(); }
      say(slot, T("Profile saved."), true);
    } catch (err) { say(slot, err.message); }
  });
  $("chat-avatar-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const slot = $("chat-avatar-msg"), input = $("chat-avatar-file");
    say(slot, "");
    const file = input.files && input.files[0];
    if (!file) { say(slot, T("Choose a picture first.")); return; }
    if (file.type !== "image/png" && file.type !== "image/jpeg") { say(slot, T("The picture must be a PNG or JPEG image.")); return; }
    if (file.size > MAX_AVATAR) { say(slot, T("The picture is larger than 1 MiB: choose a smaller one.")); return; }
    const form = new FormData();
    form.append("avatar", file);
    try {
      const p = await api("POST", "/chat/api/profile/avatar", form);
      input.value = "";
      avatarChanged(p && p.avatar);
      say(slot, T("Picture saved."), true);
    } catch (err) { say(slot, err.message); }
  });
  $("chat-avatar-remove").addEventListener("click", async () => {
    const slot = $("chat-avatar-msg");
    say(slot, "");
    try {
      await api("DELETE", "/chat/api/profile/avatar");
      avatarChanged(null);
      say(slot, T("Picture removed."), true);
      $("chat-avatar-file").focus(); // the button goes with the picture
    } catch (err) { say(slot, err.message); }
  });
  $("chat-room-create")?.addEventListener("submit", async (e) => {
    e.preventDefault();
    const slot = $("chat-room-create-msg");
    say(slot, "");
    const body = { name: $("chat-new-room-name").value.trim(), policy: $("chat-new-room-policy").value };
    const topic = $("chat-new-room-topic").value.trim();
    if (topic) body.topic = topic;
    try {
      const room = await api("POST", "/chat/api/rooms", body);
      $("chat-room-create").reset();
      say(slot, T("Room {room} created.", { room: room.name }), true);
      await refreshRooms();
      renderRoomAdmin();
    } catch (err) { say(slot, err.message); }
  });
}

// avatarChanged shows the user's new picture (its versioned URL, or null
// for none) wherever the page shows them.
function avatarChanged(url) {
  S.avatars.set(S.me.user.id, Promise.resolve(url || null));
  renderMe();
  renderProfileAvatar();
  if (S.open) renderMessages();
}

// ------------------------------------------------------ the group dialog

function renderGroupFriends() {
  const box = $("chat-group-friends");
  const friends = S.friends.friends || [];
  const checked = new Set([...box.querySelectorAll("input:checked")].map((c) => c.value));
  box.replaceChildren(...friends.map((u) => h("label", { class: "chat-check" },
    h("input", { type: "checkbox", name: "usernames", value: u.username, checked: checked.has(u.username) || null }),
    " ", h("bdi", { text: u.display_name || u.username }), " ", h("span", { class: "chat-username", text: "@" + u.username }))));
  if (!friends.length) box.append(h("p", { class: "chat-muted", text: T("A group is made with friends: add some first.") }));
}

// ---------------------------------------------------- the profile dialog

async function loadProfile() {
  const slot = $("chat-profile-msg");
  say(slot, "");
  renderProfileAvatar();
  try {
    const p = await api("GET", "/chat/api/users/" + encodeURIComponent(S.me.user.username));
    if (p.avatar !== undefined) { S.avatars.set(S.me.user.id, Promise.resolve(p.avatar || null)); renderProfileAvatar(); }
    $("chat-display-name").value = (p.user && p.user.display_name) || "";
    $("chat-about").value = p.about || "";
  } catch (e) { say(slot, e.message); }
}

function renderProfileAvatar() {
  $("chat-profile-avatar").replaceChildren(avatar(S.me.user, true));
  // "Remove the picture" only when there is one.
  avatarURL(S.me.user.id).then((url) => { $("chat-avatar-remove").hidden = !url; });
}

function renderMe() {
  el.meName.textContent = S.me.user.display_name || S.me.user.username;
  el.meAvatar.replaceChildren(avatar(S.me.user));
}

// ------------------------------------------------------- search dialog

let searchState = { q: "", next: null };

async function search(q, more) {
  const dialog = $("chat-search-dialog");
  const list = $("chat-results"), slot = $("chat-search-msg"), moreButton = $("chat-results-more");
  if (!more) { searchState = { q, next: null }; list.replaceChildren(); }
  say(slot, "");
  $("chat-search-summary").textContent = T("Searching…");
  if (!dialog.open) dialog.showModal();
  try {
    const path = "/chat/api/search?q=" + encodeURIComponent(q) + (more && searchState.next !== null ? "&before=" + encodeURIComponent(searchState.next) : "");
    const res = await api("GET", path);
    searchState.next = res.next;
    for (const m of res.messages || []) {
      const roomName = m.room ? m.room.name : "";
      const b = h("button", { type: "button", class: "chat-result" },
        h("span", { class: "chat-result-head" }, h("strong", { text: roomName }), " · ", h("span", { text: m.author && m.author.id ? m.author.display_name || m.author.username : T("deleted user") }), " · ", timeEl(m.created_at, true)),
        h("span", { class: "chat-result-text", text: m.text }));
      b.addEventListener("click", () => {
        closeDialogs();
        const id = m.room ? m.room.id : m.room_id;
        if (S.rooms.has(id)) openRoom(id, { jumpTo: m.id });
        else paneError(T("No such room."));
      });
      list.append(h("li", {}, b));
    }
    const n = list.children.length;
    $("chat-search-summary").textContent = n === 0 ? T("Nothing found for “{q}”.", { q }) : n === 1 ? T("1 message found for “{q}”.", { q }) : T("{n} messages found for “{q}”.", { n, q });
    show(moreButton, res.next !== null && res.next !== undefined);
  } catch (e) {
    $("chat-search-summary").textContent = "";
    say(slot, e.message);
  }
}

// -------------------------------------------------------- admin: requests

async function loadRequests() {
  const box = $("chat-requests"), slot = $("chat-requests-msg");
  const n = ++loads.requests.issued;
  let res;
  try {
    res = await api("GET", "/chat/api/requests");
  } catch (e) {
    if (n > loads.requests.applied) say(slot, e.message);
    return;
  }
  if (overtaken(loads.requests, n)) return;
  say(slot, "");
  const users = res.users || [];
  S.requestsPending = users.reduce((n, g) => n + (g.count || (g.requests || []).length), 0);
  if (el.requestsBadge) {
    el.requestsBadge.replaceChildren(S.requestsPending ? unreadLabel(S.requestsPending) : "", h("span", { class: "chat-sr", text: " " + T("waiting") }));
    show(el.requestsBadge, S.requestsPending > 0);
  }
  if (!$("chat-requests-dialog")?.open) return;
  if (!users.length) { box.replaceChildren(h("p", { class: "chat-muted", text: T("No requests are waiting.") })); return; }
  box.replaceChildren(...users.map((g) => {
    const n = g.count || (g.requests || []).length;
    return h("section", { class: "chat-req-user" + (n >= 3 ? " many" : "") },
      h("h3", {}, personLine(g.user), h("span", { class: "chat-count", text: n === 1 ? T("1 request") : T("{n} requests", { n }) })),
      h("ul", {}, (g.requests || []).map(requestRow)));
  }));
}

function requestRow(q) {
  const slot = h("p", { class: "chat-slot error", role: "alert", hidden: true });
  const reasonID = "chat-reason-" + q.id;
  const reason = h("input", { id: reasonID, maxlength: "500", autocomplete: "off", placeholder: T("Reason for refusing (optional)") });
  const decide = async (verb, button) => {
    say(slot, "");
    button.disabled = true;
    try {
      await api("POST", `/chat/api/requests/${q.id}/${verb}`, verb === "refuse" ? { reason: reason.value.trim() } : undefined);
      announce(verb === "approve" ? T("{name} may now enter {room}.", { name: q.user.display_name || q.user.username, room: q.room.name })
        : T("Request refused."));
      await loadRequests();
      refreshRooms().catch(() => {});
    } catch (e) {
      say(slot, e.message);
      if (button.isConnected) button.disabled = false;
    }
  };
  const approve = h("button", { type: "button", class: "chat-small", "aria-label": T("Approve {name} for {room}", { name: q.user.username, room: q.room.name }) }, T("Approve"));
  const refuse = h("button", { type: "button", class: "chat-small danger", "aria-label": T("Refuse {name} for {room}", { name: q.user.username, room: q.room.name }) }, T("Refuse"));
  approve.addEventListener("click", () => decide("approve", approve));
  refuse.addEventListener("click", () => decide("refuse", refuse));
  return h("li", { class: "chat-req", dataset: { request: q.id } },
    h("span", { class: "chat-req-room" }, h("strong", { text: q.room.name }), " ", timeEl(q.created_at, true)),
    h("span", { class: "chat-row-actions" }, approve,
      h("label", { for: reasonID, class: "chat-sr", text: T("Reason for refusing (optional)") }), reason, refuse),
    slot);
}

let requestsTimer = null;
function requestsSoon() {
  clearTimeout(requestsTimer);
  requestsTimer = setTimeout(loadRequests, 300);
}

// ------------------------------------------------------- admin: rooms

const policyText = () => ({
  everyone: T("Everyone (no joining)"), open: T("Open (joined at once)"), request: T("On request (an admin approves)"), invite: T("Invitation only"),
});

function renderRoomAdmin() {
  const box = $("chat-room-admin-list");
  const rooms = [...S.rooms.values()].filter((r) => r.kind === "room");
  box.replaceChildren(...rooms.map((r) => {
    const id = "chat-ra-" + r.id;
    const slot = h("p", { class: "chat-slot", role: "status", hidden: true });
    const name = h("input", { id: id + "-name", maxlength: "80", required: true, value: r.name });
    const topic = h("input", { id: id + "-topic", maxlength: "300", value: r.topic || "" });
    const policy = h("select", { id: id + "-policy" }, Object.entries(policyText()).map(([v, label]) => h("option", { value: v, selected: v === r.policy || null }, label)));
    const retention = h("input", { id: id + "-retention", type: "number", min: "1", max: "36500", inputmode: "numeric", placeholder: T("forever"), value: r.retention_days ?? "" });
    const archived = h("input", { id: id + "-archived", type: "checkbox", checked: r.archived || null });
    const form = h("form", { class: "chat-room-edit" },
      h("label", { for: name.id, text: T("Name") }), name,
      h("label", { for: topic.id, text: T("Topic") }), topic,
      h("label", { for: policy.id, text: T("Who may join") }), policy,
      h("label", { for: retention.id, text: T("Keep messages for (days; empty: forever)") }), retention,
      h("label", { class: "chat-check" }, archived, " ", T("Archived (read-only, listed last)")),
      h("div", { class: "chat-row" }, h("button", { type: "submit", class: "chat-small" }, T("Save"))), slot);
    const initialRetention = retention.value;
    form.addEventListener("submit", async (e) => {
      e.preventDefault();
      const body = {};
      if (name.value.trim() !== r.name) body.name = name.value.trim();
      if (topic.value.trim() !== (r.topic || "")) body.topic = topic.value.trim();
      if (policy.value !== r.policy) body.policy = policy.value;
      if (archived.checked !== !!r.archived) body.archived = archived.checked;
      if (retention.value !== initialRetention) body.retention_days = retention.value === "" ? null : Number(retention.value);
      if (!Object.keys(body).length) { say(slot, T("Nothing to save.")); slot.classList.remove("error"); return; }
      say(slot, "");
      try {
        await api("PATCH", "/chat/api/rooms/" + r.id, body);
        await refreshRooms();
        renderRoomAdmin();
        const again = $(id + "-name");
        if (again) { again.closest("details").open = true; say(again.closest("form").querySelector(".chat-slot"), T("Saved."), true); }
      } catch (err) { slot.classList.add("error"); say(slot, err.message); }
    });
    return h("details", { class: "chat-room-admin" },
      h("summary", {}, h("strong", { text: r.name }), " ", h("span", { class: "chat-muted", text: policyText()[r.policy] || r.policy }),
        r.archived ? h("span", { class: "chat-state", text: T("archived") }) : null),
      form);
  }));
}

// -------------------------------------------------------------- dialogs

function closeDialogs() {
  for (const d of document.querySelectorAll("dialog.chat-dialog[open]")) d.close();
}

function wireDialogs() {
  const open = (button, dialog, onOpen) => {
    const b = $(button);
    if (!b) return;
    b.addEventListener("click", () => {
      const d = $(dialog);
      d.showModal();
      if (onOpen) onOpen();
    });
  };
  open("chat-open-friends", "chat-friends-dialog", () => { renderFriends(); loadFriends(); });
  open("chat-open-group", "chat-group-dialog", () => { renderGroupFriends(); loadFriends(); });
  open("chat-open-profile", "chat-profile-dialog", loadProfile);
  open("chat-open-requests", "chat-requests-dialog", () => { $("chat-requests").replaceChildren(h("p", { class: "chat-muted", text: T("Loading…") })); loadRequests(); });
  open("chat-open-rooms-admin", "chat-rooms-dialog", renderRoomAdmin);
  for (const d of document.querySelectorAll("dialog.chat-dialog")) {
    d.addEventListener("click", (e) => { if (e.target === d) d.close(); }); // a click on the backdrop
    for (const b of d.querySelectorAll("[data-close]")) b.addEventListener("click", () => d.close());
  }
  $("chat-results-more").addEventListener("click", () => search(searchState.q, true));
}

// ---------------------------------------------------------------- start

function start() {
  const query = new URLSearchParams(location.search).get("q"); // /chat?q=… (before the address is tidied)
  setRooms(initial.rooms || []);
  S.open = initial.room || null;
  if (S.open !== null && !S.rooms.has(S.open)) S.open = null;
  S.readable = S.open !== null && !!initial.readable;
  for (const m of initial.messages || []) S.msgs.set(m.id, m);
  S.next = initial.next ?? null;
  root.classList.add("chat-live-page");
  renderMe();
  renderAll();
  if (initial.error) paneError(apiText(initial.error));
  if (S.open !== null) history.replaceState({ room: S.open }, "", location.pathname);
  scrollToBottom();
  requestAnimationFrame(() => { scrollToBottom(); fillUp(); markReadSoon(); });

  el.scroll.addEventListener("scroll", () => {
    if (el.scroll.scrollTop < NEAR_TOP) loadOlder();
    if (atBottom()) { S.unseenBelow = 0; renderJump(); markReadSoon(); }
  }, { passive: true });
  el.olderButton.addEventListener("click", loadOlder);
  // The list is one tab stop, its newest message (roving tabindex): Up
  // and Down move between messages once one has focus, and only the
  // focused message's buttons are tab stops, so Tab goes from a message
  // to its actions and on to the composer (Escape goes there at once).
  const messageButtons = (li) => li.querySelectorAll(":scope > .chat-msg-actions > button, :scope > .chat-msg-body > .chat-reactions button, :scope > .chat-msg-body > .chat-msg-text a");
  const rove = () => {
    const list = el.messages.querySelectorAll(":scope > .chat-msg");
    const newest = list[list.length - 1];
    for (const li of el.messages.querySelectorAll(':scope > .chat-msg[tabindex="0"]')) if (li !== newest) li.tabIndex = -1;
    if (newest) newest.tabIndex = 0;
  };
  new MutationObserver(rove).observe(el.messages, { childList: true });
  rove();
  el.messages.addEventListener("focusin", (e) => {
    const li = e.target.closest && e.target.closest(".chat-msg");
    if (li) for (const b of messageButtons(li)) b.tabIndex = 0;
  });
  el.messages.addEventListener("focusout", (e) => {
    const li = e.target.closest && e.target.closest(".chat-msg");
    if (li && !li.contains(e.relatedTarget)) for (const b of messageButtons(li)) b.tabIndex = -1;
  });
  el.messages.addEventListener("keydown", (e) => {
    const msg = e.target.closest && e.target.closest(".chat-msg");
    if (!msg || e.target.closest(".chat-edit, .chat-picker")) return;
    if (e.key === "ArrowUp" || e.key === "ArrowDown") {
      let next = e.key === "ArrowUp" ? msg.previousElementSibling : msg.nextElementSibling;
      while (next && !next.classList.contains("chat-msg")) next = e.key === "ArrowUp" ? next.previousElementSibling : next.nextElementSibling;
      if (next) { e.preventDefault(); next.focus(); next.scrollIntoView({ block: "nearest" }); }
    } else if (e.key === "Escape" && !el.composer.hidden) { e.preventDefault(); el.text.focus(); }
  });
  $("chat-notice-close").addEventListener("click", () => { clearTimeout(noticeTimer); show(el.notice, false); el.text.focus(); });
  el.jump.addEventListener("click", () => { scrollToBottom(); markReadSoon(); el.text.focus(); });
  document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") markReadSoon(); });
  window.addEventListener("focus", markReadSoon);

  el.composer.addEventListener("submit", (e) => { e.preventDefault(); send(); });
  // On a phone (a touch screen and no mouse) the keyboard has no Shift:
  // its Enter key goes to a new line and the Send button sends, as in the
  // phone apps people know.
  if (touchOnly()) el.text.enterKeyHint = "enter";
  el.text.addEventListener("keydown", (e) => {
    if (mention) {
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        mention.index = (mention.index + (e.key === "ArrowDown" ? 1 : mention.items.length - 1)) % mention.items.length;
        renderMentions();
        return;
      }
      if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); pickMention(mention.index); return; }
      if (e.key === "Escape") { e.preventDefault(); closeMentions(); return; }
    }
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !touchOnly()) { e.preventDefault(); send(); return; }
    if (e.key === "ArrowUp" && el.text.value === "") {
      const own = sortedMessages().reverse().find((m) => m.author && m.author.id === S.me.user.id && !m.deleted);
      const li = own && elFor(own.id);
      if (li) { e.preventDefault(); editMessage(own, li); }
    }
  });
  el.text.addEventListener("input", () => { autoSize(); typing(); updateMentions(); say(el.composerError, ""); });
  el.text.addEventListener("blur", () => setTimeout(closeMentions, 150));

  el.back.addEventListener("click", () => {
    root.dataset.view = "list";
    history.pushState({ list: true }, "", "/chat");
    const current = el.side.querySelector(".chat-room.current");
    (current || el.side.querySelector("a, button")).focus();
  });
  window.addEventListener("popstate", () => {
    const m = location.pathname.match(/^\/chat\/rooms\/(\d+)$/);
    if (m) openRoom(Number(m[1]), { push: false });
    else root.dataset.view = "list";
  });

  el.presence.addEventListener("change", async () => {
    const status = el.presence.value, before = S.me.presence;
    say(el.presenceError, "");
    try {
      await api("PUT", "/chat/api/presence", { status });
      S.me.presence = status;
      S.presence.set(S.me.user.id, status);
      heartbeat();
    } catch (e) {
      el.presence.value = before;
      say(el.presenceError, e.message);
    }
  });

  el.search.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = el.q.value.trim();
    if (q) search(q, false);
  });

  wireForms();
  wireDialogs();
  // /chat?q=… (the search form without its script, or a shared link)
  if (query && query.trim()) { el.q.value = query; search(query.trim(), false); }

  // Live: the rooms, the user's own events, presence, and for admins the
  // requests queue.
  syncSubscriptions();
  rt.subscribe("chat.user." + S.me.user.id, { event: onUserEvent, subscribed: () => { loadFriends(); }, reload: () => { resyncSoon(); loadFriends(); } });
  rt.subscribe("chat.presence", { event: onPresence, subscribed: heartbeat, reload: loadFriends });
  if (S.me.admin) {
    rt.subscribe("chat.admin", { event: requestsSoon, subscribed: requestsSoon, reload: requestsSoon });
  }
  setInterval(heartbeat, HEARTBEAT_EVERY);

  fitToViewport();
  window.addEventListener("resize", fitToViewport);
  root.dataset.ready = "true";
}

// fitToViewport makes the chat as tall as the window below its top, so
// that the message pane, not the page, scrolls.
function fitToViewport() {
  const top = root.getBoundingClientRect().top + window.scrollY;
  root.style.setProperty("--chat-top", Math.max(0, Math.round(top)) + "px");
}

start();
