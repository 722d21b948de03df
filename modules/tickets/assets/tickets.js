// The support desk's pages: a signed asset of the module, the only kind of
// script its pages may run (no inline script, no build step, nothing
// fetched from elsewhere). The runtime renders the page (templates/
// tickets.html) with its first state as JSON (#tk-state) and its texts in
// the page's language (#tk-i18n, and the API's sentences in #tk-errors);
// this script draws the lists from that state and keeps them live with
// the runtime's realtime client and the module's JSON API (API.md).
//
// Rules it keeps: every text from people is set as text (textContent or
// text nodes, never innerHTML); every error the API answers is shown next
// to what failed, in the page's language; the page works with the
// keyboard alone and on a phone.
import { connect } from "/static/websonic/realtime.js";

// ---------------------------------------------------------------- setup

const root = document.getElementById("tk");
const texts = readJSON("tk-i18n") || {};
const apiTexts = readJSON("tk-errors") || {};
const initial = readJSON("tk-state") || {};
const lang = document.documentElement.lang || "en";
const me = initial.me || null;
const st = initial.state || {};
const $ = (id) => document.getElementById(id);

function readJSON(id) {
  const node = document.getElementById(id);
  if (!node) return null;
  try { return JSON.parse(node.textContent); } catch { return null; }
}

// T translates key through the page's catalogue and fills {name} places.
function T(key, args) {
  let s = Object.prototype.hasOwnProperty.call(texts, key) ? texts[key] : key;
  if (args) for (const [k, v] of Object.entries(args)) s = s.split("{" + k + "}").join(isolate(String(v)));
  return s;
}

const bidiText = /[\u0590-\u08ff\u200e\u200f\u202a-\u202e\u2066-\u2069\ufb1d-\ufdff\ufe70-\ufefc]/;
function isolate(s) { return bidiText.test(s) ? "\u2068" + s + "\u2069" : s; }

// h builds an element. Strings among kids become text nodes, never markup.
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

// say shows msg in a message slot ("" clears it); ok marks good news.
function say(slot, msg, ok = false) {
  if (!slot) return;
  slot.textContent = msg || "";
  slot.classList.toggle("ok", !!ok);
  slot.classList.toggle("error", !!msg && !ok);
  slot.hidden = !msg;
}

// setTitle names the page in the window's title, in the page's language
// (the runtime titles a module's page as the module said, in English),
// keeping the site's name after it.
const siteSuffix = (() => { const i = document.title.lastIndexOf(" · "); return i >= 0 ? document.title.slice(i) : ""; })();
function setTitle(text) { document.title = text + siteSuffix; }

function announce(msg) { const a = $("tk-announce"); if (a) { a.textContent = ""; setTimeout(() => { a.textContent = msg; }, 50); } }

const timeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
function when(s) {
  if (!s) return "";
  const d = new Date(s);
  return isNaN(d) ? "" : timeFormat.format(d);
}
function timeEl(s) { return h("time", { datetime: s, text: when(s) }); }

function nameOf(u) {
  if (!u) return T("deleted user");
  return u.display_name || u.username;
}

function sizeOf(n) {
  if (n < 1024) return T("{n} bytes", { n });
  if (n < 1024 * 1024) return T("{n} KB", { n: Math.round(n / 1024) });
  return T("{n} MB", { n: (n / 1024 / 1024).toFixed(1) });
}

// ------------------------------------------------------------------ API

class ApiError extends Error {
  constructor(message, status, code) { super(message); this.status = status; this.code = code; }
}

// api calls the module's JSON API; a failure throws an ApiError whose
// message is the API's sentence for the person, in the page's language.
async function api(method, path, body, type) {
  const opts = { method, headers: { Accept: "application/json" }, credentials: "same-origin" };
  if (body instanceof Blob) {
    opts.body = body;
    opts.headers["Content-Type"] = type || "application/octet-stream";
  } else if (body !== undefined) {
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
    if (resp.status === 413 && !(data && data.error)) throw new ApiError(T("This file is too large."), 413, "too_large");
    const msg = data && typeof data.error === "string" && data.error ? apiText(data.error) : T("Something went wrong (error {status}). Try again.", { status: resp.status });
    throw new ApiError(msg, resp.status, data && data.code);
  }
  if (data === null) throw new ApiError(T("The server sent an answer the page does not understand."), resp.status, "internal");
  return data;
}

// apiPatterns are the API's sentences built at run time ("… {a} …"): each
// a regular expression capturing its values, the most literal first.
const apiPatterns = Object.keys(apiTexts).filter((k) => /\{[a-z]\}/.test(k)).map((k) => {
  const names = [];
  const source = k.split(/(\{[a-z]\})/).map((part) => {
    if (/^\{[a-z]\}$/.test(part)) { names.push(part); return "([\\s\\S]+?)"; }
    return part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }).join("");
  return { re: new RegExp("^" + source + "$"), names, text: apiTexts[k], weight: k.replace(/\{[a-z]\}/g, "").length };
}).sort((a, b) => b.weight - a.weight);

// apiText is one of the API's sentences in the page's language when the
// page knows it, else as the API said it.
function apiText(s) {
  if (Object.prototype.hasOwnProperty.call(apiTexts, s)) return apiTexts[s];
  for (const p of apiPatterns) {
    const m = p.re.exec(s);
    if (!m) continue;
    let out = p.text;
    p.names.forEach((name, i) => { out = out.split(name).join(isolate(m[i + 1])); });
    return out;
  }
  return s;
}

// busy disables a form's or a button's controls while fn runs, and shows
// its error in slot.
// The focus goes back where it was once the controls are enabled again
// (disabling the focused control drops the focus to the page's body).
async function busy(target, slot, fn) {
  const controls = target instanceof HTMLFormElement ? [...target.elements] : [target];
  const focused = document.activeElement;
  for (const c of controls) c.disabled = true;
  say(slot, "");
  try {
    await fn();
  } catch (e) {
    say(slot, e instanceof ApiError ? e.message : T("Something went wrong. Try again."));
    if (!(e instanceof ApiError)) console.error(e);
  } finally {
    for (const c of controls) c.disabled = false;
    if (focused && focused.isConnected && !focused.hidden && (document.activeElement === document.body || document.activeElement === null)) focused.focus();
  }
}

// upload sends files as drafts of ticket id (prefix: /tickets/api or
// /tickets/staff/api) and returns their ids.
async function upload(prefix, id, files) {
  const ids = [];
  for (const f of files) {
    const a = await api("POST", `${prefix}/tickets/${id}/attachments?name=${encodeURIComponent(f.name)}`, f, f.type || "application/octet-stream");
    ids.push(a.id);
  }
  return ids;
}

// ------------------------------------------------------------ realtime

let rt = null;
function realtime() {
  if (rt) return rt;
  rt = connect({
    state(s) { root.dataset.socket = s; },
    error(code, message) { console.warn("tickets realtime:", code, message); },
  });
  return rt;
}

// follow subscribes to topics and calls changed (debounced) on each event
// and each resync; root.dataset.live is "true" once every subscription is
// confirmed.
function follow(topics, changed) {
  if (!topics.length) { root.dataset.live = "true"; return; }
  const confirmed = new Set();
  let timer = null;
  const soon = () => { clearTimeout(timer); timer = setTimeout(changed, 150); };
  for (const topic of topics) {
    realtime().subscribe(topic, {
      event: soon,
      reload: soon,
      subscribed: () => {
        confirmed.add(topic);
        if (confirmed.size === topics.length) root.dataset.live = "true";
        soon(); // what changed between the page's state and the subscription
      },
      refused: (reason) => { console.warn("tickets realtime: refused", topic, reason); },
    });
  }
}

// ---------------------------------------------------------- vocabulary

// customerStatus says where a request stands, in words for its customer.
function customerStatus(s) {
  switch (s) {
    case "new": return T("Received: we will answer soon");
    case "open": return T("Being handled");
    case "pending": return T("Waiting for your answer");
    case "on_hold": return T("On hold");
    case "solved": return T("Solved");
    case "closed": return T("Closed");
  }
  return s;
}

function staffStatus(s) {
  switch (s) {
    case "new": return T("New");
    case "open": return T("Open");
    case "pending": return T("Waiting for the customer");
    case "on_hold": return T("On hold");
    case "solved": return T("Solved");
    case "closed": return T("Closed");
  }
  return s;
}

function priorityName(p) {
  return [T("Low"), T("Low"), T("Normal"), T("High"), T("Urgent")][p] || String(p);
}

function eventText(ev, author) {
  const who = nameOf(author);
  switch (ev && ev.type) {
    case "opened": return T("{name} opened this request.", { name: who });
    case "status": {
      // In the customer's words on the customer's page ("Waiting for your
      // answer"), in the desk's on the staff's.
      const label = st.staff ? staffStatus : customerStatus;
      return T("The status went from “{from}” to “{to}”.", { from: label(ev.from), to: label(ev.to) });
    }
    case "claimed": return T("{user} is taking care of this request.", { user: ev.user || who });
    case "assigned": return T("The request was given to {user}.", { user: ev.user });
    case "unassigned": return T("Nobody is in charge of the request any more.");
    case "priority": return T("The priority was changed.");
    case "merged_from": return T("Request #{n} was joined into this one.", { n: ev.ticket });
    case "merged_into": return T("This request was joined into request #{n}.", { n: ev.ticket });
    case "participant_added": return T("{user} can now follow this request.", { user: ev.user });
    case "participant_removed": return T("{user} no longer follows this request.", { user: ev.user });
    case "reopened": return T("The request was reopened.");
    case "rated": return T("The help was rated {score} out of 5.", { score: ev.score });
  }
  return T("The request changed.");
}

// -------------------------------------------------------- conversation

// PREVIEWS are the image types the module serves inline (API.md): the
// page shows them small, under their link.
const PREVIEWS = ["image/png", "image/jpeg", "image/gif", "image/webp"];

function attachmentsOf(list, linked) {
  if (!list || !list.length) return null;
  return h("ul", { class: "tk-files" }, list.map((a) => h("li", {},
    linked ? h("a", { href: `/tickets/attachments/${a.id}`, text: a.name }) : h("span", { text: a.name }),
    h("span", { class: "tk-muted", text: " (" + sizeOf(a.size) + ")", dir: "ltr" }),
    linked && PREVIEWS.includes(a.type) ? h("img", { class: "tk-thumb", src: `/tickets/attachments/${a.id}`, alt: a.name, loading: "lazy" }) : null)));
}

// messageItem draws a public message; guestName names a guest opener for
// staff ("" on the guest's own page, where they are "You").
function messageItem(m, linked, guestName) {
  if (m.kind === "event") {
    return h("li", { class: "tk-event", id: "m" + m.id }, h("span", { text: eventText(m.event, m.author) }), " ", timeEl(m.created_at));
  }
  const mine = me && m.author && m.author.id === me.id;
  let who = m.guest ? (guestName || T("You")) : nameOf(m.author);
  if (mine) who = T("You");
  return h("li", { class: "tk-msg" + (m.staff ? " staff" : "") + (mine || m.guest ? " mine" : ""), id: "m" + m.id },
    h("div", { class: "tk-msg-head" },
      h("strong", { class: "tk-author", text: who }),
      m.staff ? h("span", { class: "tk-badge", text: T("Support") }) : null,
      " ", timeEl(m.created_at)),
    m.body ? h("p", { class: "tk-body", text: m.body }) : null,
    attachmentsOf(m.attachments, linked));
}

function noteItem(n) {
  return h("li", { class: "tk-msg note", id: "n" + n.id },
    h("div", { class: "tk-msg-head" }, h("strong", { class: "tk-author", text: nameOf(n.author) }), " ", timeEl(n.created_at)),
    h("p", { class: "tk-body", text: n.body }),
    attachmentsOf(n.attachments, true));
}

// --------------------------------------------------------- ticket page

function ticketPage(guest) {
  const staff = !!st.staff;
  const id = st.id;
  const token = st.token;
  const base = guest ? `/tickets/guest/api/t/${token}` : staff ? `/tickets/staff/api/tickets/${id}` : `/tickets/api/tickets/${id}`;
  const custBase = guest ? base : `/tickets/api/tickets/${id}`;
  let view = st.view || null;
  let agentsLoaded = false;
  let canned = []; // the canned replies of the ticket's panel (agents)

  const flash = sessionStorage.getItem("tk-flash");
  if (flash) { sessionStorage.removeItem("tk-flash"); say($("tk-error"), flash); }

  function draw() {
    if (!view) return;
    const t = view.ticket;
    $("tk-title").textContent = "";
    $("tk-title").append(h("span", { class: "tk-num", text: "#" + t.id + " " }), h("span", { text: t.subject }));
    setTitle("#" + t.id + " " + t.subject);
    const meta = $("tk-meta");
    meta.textContent = "";
    meta.append(h("span", { class: "tk-status s-" + t.status, text: staff ? staffStatus(t.status) : customerStatus(t.status) }),
      " · ", h("span", { text: t.panel.name }), " · ", T("opened {when}", { when: when(t.created_at) }));
    if (staff) {
      meta.append(" · ", h("span", { text: T("by {name}", { name: t.opener ? nameOf(t.opener) : (t.guest_name || t.guest_email || T("a visitor")) }) }));
      meta.append(" · ", h("span", { class: "tk-prio p" + t.priority, text: T("Priority: {p}", { p: priorityName(t.priority) }) }));
      if (t.overdue) meta.append(" ", h("strong", { class: "tk-overdue", text: T("Overdue") }));
      else if (t.paused) meta.append(" · ", T("clock paused"));
      else if (t.next_due) meta.append(" · ", T("due {when}", { when: when(t.next_due) }));
    }
    if (t.merged_into) {
      const m = $("tk-merged");
      m.textContent = "";
      m.append(T("This request was joined into request #{n}.", { n: t.merged_into }), " ");
      if (!guest) m.append(h("a", { href: `/tickets/${t.merged_into}`, text: T("Go to request #{n}", { n: t.merged_into }) }));
      show(m, true);
    }
    const list = $("tk-messages");
    list.textContent = "";
    const guestName = staff ? t.guest_name || t.guest_email || T("a visitor") : "";
    for (const m of view.messages || []) list.append(messageItem(m, !guest, guestName));
    if (staff) {
      const notes = $("tk-notes");
      notes.textContent = "";
      for (const n of view.notes || []) notes.append(noteItem(n));
      if (!(view.notes || []).length) notes.append(h("li", { class: "tk-muted", text: T("No notes yet.") }));
      drawSide(t);
    }
    const finished = t.status === "solved" || t.status === "closed";
    show($("tk-reply"), t.status !== "closed" && !t.merged_into);
    // The customer's own actions (an agent who is not a customer has the
    // side's status instead).
    const cust = $("tk-customer");
    show(cust, true);
    show($("tk-solve"), !staff && !finished && !t.merged_into);
    show($("tk-reopen"), !staff && t.can_reopen);
    const closedNote = $("tk-closed-note");
    if (t.status === "closed" && !t.can_reopen && !staff) { closedNote.textContent = T("This request is closed. To ask something new, open a new request."); show(closedNote, true); } else show(closedNote, false);
    show($("tk-rate"), !staff && finished && !t.rating);
    const rating = $("tk-rating");
    if (t.rating) { rating.textContent = T("Rated {score} out of 5.", { score: t.rating.score }); show(rating, true); } else show(rating, false);
    const tr = guest ? `/tickets/guest/t/${token}/transcript` : `/tickets/${t.id}/transcript`;
    $("tk-transcript-html").href = tr + ".html";
    $("tk-transcript-txt").href = tr + ".txt";
    show($("tk-transcript"), finished);
    root.dataset.ready = "true";
  }

  function drawSide(t) {
    const who = $("tk-who");
    who.textContent = t.assignee ? T("{name} has it.", { name: nameOf(t.assignee) }) : T("Nobody has it yet.");
    show($("tk-claim"), !t.assignee); // someone else's: Assign takes it over (a claim is refused)
    const status = $("tk-status");
    if (document.activeElement !== status) status.value = t.status === "new" ? "open" : t.status;
    if (document.activeElement !== $("tk-urgency")) $("tk-urgency").value = String(t.urgency);
    if (document.activeElement !== $("tk-impact")) $("tk-impact").value = String(t.impact);
    const assign = $("tk-assign");
    if (t.assignee && ![...assign.options].some((o) => o.value === t.assignee.username)) {
      assign.append(h("option", { value: t.assignee.username, text: nameOf(t.assignee) }));
    }
    if (document.activeElement !== assign) assign.value = t.assignee ? t.assignee.username : "";
    const parts = $("tk-participants");
    parts.textContent = "";
    for (const p of t.participants || []) {
      parts.append(h("li", {}, h("span", { text: nameOf(p) + " (@" + p.username + ")" }), " ",
        h("button", { type: "button", class: "tk-small tk-secondary", "aria-label": T("Remove {name}", { name: nameOf(p) }), text: T("Remove"),
          onclick: (e) => busy(e.currentTarget, $("tk-side-msg"), async () => { view.ticket = await api("DELETE", `/tickets/staff/api/tickets/${id}/participants/${p.id}`); draw(); }) })));
    }
    if (!(t.participants || []).length) parts.append(h("li", { class: "tk-muted", text: T("Only the person who opened it.") }));
  }

  async function refresh() {
    try {
      view = await api("GET", base);
      draw();
    } catch (e) {
      say($("tk-error"), e.message);
    }
  }

  $("tk-reply").addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.currentTarget;
    const body = $("tk-reply-body").value;
    const filesInput = $("tk-reply-files");
    const files = filesInput ? [...filesInput.files] : [];
    if (!body.trim() && !files.length) { say($("tk-reply-msg"), T("Write your message first.")); $("tk-reply-body").focus(); return; }
    busy(form, $("tk-reply-msg"), async () => {
      const prefix = staff ? "/tickets/staff/api" : "/tickets/api";
      const attachments = files.length ? await upload(prefix, id, files) : [];
      const req = guest ? { body } : { body, attachments };
      if (staff && $("tk-reply-status").value) req.status = $("tk-reply-status").value;
      await api("POST", base + "/replies", req);
      $("tk-reply-body").value = "";
      if (filesInput) filesInput.value = "";
      if (staff) $("tk-reply-status").value = "";
      announce(T("Your message was sent."));
      await refresh();
    });
  });

  const act = (button, path, body) => busy(button, $("tk-customer-msg"), async () => {
    await api("POST", custBase + path, body);
    await refresh();
  });
  $("tk-solve").addEventListener("click", (e) => act(e.currentTarget, "/solve"));
  $("tk-reopen").addEventListener("click", (e) => act(e.currentTarget, "/reopen"));
  $("tk-rate").addEventListener("submit", (e) => {
    e.preventDefault();
    const score = e.currentTarget.querySelector("input[name=score]:checked");
    if (!score) { say($("tk-customer-msg"), T("Choose a score from 1 to 5.")); return; }
    busy(e.currentTarget, $("tk-customer-msg"), async () => {
      await api("POST", custBase + "/rating", { score: Number(score.value), comment: $("tk-rate-comment").value });
      announce(T("Thank you for your rating."));
      await refresh();
    });
  });

  if (staff) {
    const side = $("tk-side-msg");
    const sideAct = (button, method, path, body) => busy(button, side, async () => {
      view.ticket = await api(method, `/tickets/staff/api/tickets/${id}` + path, body);
      draw();
      await refresh();
    });
    $("tk-claim").addEventListener("click", (e) => sideAct(e.currentTarget, "POST", "/claim"));
    $("tk-assign-go").addEventListener("click", (e) => sideAct(e.currentTarget, "POST", "/assign", { username: $("tk-assign").value }));
    $("tk-status-go").addEventListener("click", (e) => sideAct(e.currentTarget, "POST", "/status", { status: $("tk-status").value }));
    $("tk-priority-go").addEventListener("click", (e) => sideAct(e.currentTarget, "POST", "/priority", { urgency: Number($("tk-urgency").value), impact: Number($("tk-impact").value) }));
    $("tk-participant-go").addEventListener("click", (e) => {
      const name = $("tk-participant").value.trim();
      if (!name) { say(side, T("Write a username first.")); return; }
      sideAct(e.currentTarget, "POST", "/participants", { username: name }).then(() => { if (side.hidden) $("tk-participant").value = ""; });
    });
    $("tk-merge-go").addEventListener("click", (e) => {
      const into = Number($("tk-merge").value);
      if (!(into > 0)) { say(side, T("Write the number of the request to merge into.")); return; }
      if (!confirm(T("Merge request #{a} into request #{b}? This cannot be undone.", { a: id, b: into }))) return;
      busy(e.currentTarget, side, async () => {
        await api("POST", `/tickets/staff/api/tickets/${id}/merge`, { into });
        location.href = `/tickets/${into}`;
      });
    });
    $("tk-canned-go").addEventListener("click", () => {
      const c = canned.find((x) => String(x.id) === $("tk-canned").value);
      if (!c) { say(side, T("Choose a canned reply first.")); return; }
      const box = $("tk-reply-body");
      box.value = box.value ? box.value.replace(/\s*$/, "") + "\n\n" + c.body : c.body;
      box.focus();
    });
    $("tk-note").addEventListener("submit", (e) => {
      e.preventDefault();
      const body = $("tk-note-body").value;
      const files = [...$("tk-note-files").files];
      if (!body.trim()) { say($("tk-note-msg"), T("Write your note first.")); $("tk-note-body").focus(); return; }
      busy(e.currentTarget, $("tk-note-msg"), async () => {
        const attachments = files.length ? await upload("/tickets/staff/api", id, files) : [];
        await api("POST", `/tickets/staff/api/tickets/${id}/notes`, { body, attachments });
        $("tk-note-body").value = "";
        $("tk-note-files").value = "";
        announce(T("Your note was added."));
        await refresh();
      });
    });
  }

  // loadSide reads who may be assigned, and the canned replies, for the
  // ticket's panel (agents only).
  async function loadSide() {
    if (!staff || !view || agentsLoaded) return;
    agentsLoaded = true;
    const panel = view.ticket.panel.id;
    try {
      const a = await api("GET", `/tickets/staff/api/agents?panel=${panel}`);
      const assign = $("tk-assign");
      for (const u of a.agents || []) if (![...assign.options].some((o) => o.value === u.username)) assign.append(h("option", { value: u.username, text: nameOf(u) + " (@" + u.username + ")" }));
      assign.value = view.ticket.assignee ? view.ticket.assignee.username : "";
      const c = await api("GET", `/tickets/staff/api/canned?panel=${panel}`);
      canned = c.canned || [];
      for (const x of canned) $("tk-canned").append(h("option", { value: String(x.id), text: x.title }));
    } catch (e) {
      say($("tk-side-msg"), e.message);
    }
  }

  draw();
  if (!view && st.later && st.later.key === "view") {
    // Too long to come with the page: read from the API.
    refresh().then(() => { if (view) live(); else root.dataset.ready = "true"; });
    return;
  }
  if (!view) { root.dataset.ready = "true"; return; }
  live();

  function live() {
    loadSide();
    if (guest) {
    // Guests get no events: the page reads the ticket again every 30 s
    // while it is shown, and at once when it is shown again.
      setInterval(() => { if (document.visibilityState === "visible") refresh(); }, 30000);
      document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") refresh(); });
      root.dataset.live = "true";
    } else {
      follow(staff ? [`tickets.ticket.${id}`, `tickets.notes.${id}`] : [`tickets.ticket.${id}`], refresh);
    }
  }
}

// ------------------------------------------------------ my tickets page

function minePage() {
  const list = $("tk-list");
  const status = st.status === "closed" ? "closed" : "open";
  let next = st.list ? st.list.next : null;

  function item(t) {
    return h("li", { class: "tk-item" + (t.unread ? " unread" : "") },
      h("a", { href: `/tickets/${t.id}`, class: "tk-item-link" },
        h("span", { class: "tk-item-subject", text: t.subject }),
        t.unread ? h("span", { class: "tk-badge new", text: T("New answer") }) : null),
      h("span", { class: "tk-item-meta" },
        h("span", { class: "tk-status s-" + t.status, text: customerStatus(t.status) }), " · ",
        h("span", { text: t.panel.name }), " · #" + t.id + " · ", T("updated {when}", { when: when(t.updated_at) })));
  }
  function draw(tickets, append) {
    if (!append) list.textContent = "";
    for (const t of tickets) list.append(item(t));
    show($("tk-empty"), !list.children.length);
    show($("tk-more"), next !== null && next !== undefined);
  }
  async function reload() {
    try {
      const r = await api("GET", `/tickets/api/tickets?status=${status}`);
      next = r.next;
      draw(r.tickets || [], false);
    } catch (e) { say($("tk-error"), e.message); }
  }
  $("tk-more").addEventListener("click", (e) => busy(e.currentTarget, $("tk-error"), async () => {
    const r = await api("GET", `/tickets/api/tickets?status=${status}&before=${next}`);
    next = r.next;
    draw(r.tickets || [], true);
  }));
  draw(st.list ? st.list.tickets || [] : [], false);
  root.dataset.ready = "true";
  if (me) follow([`tickets.user.${me.id}`], reload);
}

// ------------------------------------------------------ new ticket page

function newPage(guest) {
  const panels = (st.panels && st.panels.panels) || [];
  const form = $("tk-form");
  let chosen = null;

  const box = $("tk-panels");
  for (const p of panels) {
    box.append(h("button", { type: "button", class: "tk-panel", dataset: { panel: String(p.id) }, onclick: () => choose(p, true) },
      h("strong", { text: p.name }), p.description ? h("span", { text: p.description }) : null));
  }
  show($("tk-no-panels"), !panels.length && !initial.error);

  function fieldControl(f, i) {
    const id = "tk-field-" + i;
    const label = f.label + (f.required ? "" : " " + T("(optional)"));
    const attrs = { id, name: f.name, required: f.required, dataset: { field: f.name, type: f.type } };
    switch (f.type) {
      case "textarea": return [h("label", { for: id, text: label }), h("textarea", { ...attrs, rows: 3, maxlength: 10000 })];
      case "number": return [h("label", { for: id, text: label }), h("input", { ...attrs, type: "number", step: "any", inputmode: "decimal" })];
      case "email": return [h("label", { for: id, text: label }), h("input", { ...attrs, type: "email", maxlength: 254, autocomplete: "email" })];
      case "date": return [h("label", { for: id, text: label }), h("input", { ...attrs, type: "date" })];
      case "checkbox": return [h("label", { class: "tk-check" }, h("input", { ...attrs, type: "checkbox" }), " ", h("span", { text: label }))];
      case "select": return [h("label", { for: id, text: label }), h("select", attrs, h("option", { value: "", text: T("Choose…") }), (f.options || []).map((o) => h("option", { value: o, text: o })))];
    }
    return [h("label", { for: id, text: label }), h("input", { ...attrs, type: "text", maxlength: 2000 })];
  }

  function choose(p, focus) {
    chosen = p;
    $("tk-form-title").textContent = p.name;
    $("tk-form-description").textContent = p.description || "";
    const fields = $("tk-fields");
    fields.textContent = "";
    (p.fields || []).forEach((f, i) => fields.append(...fieldControl(f, i)));
    show($("tk-choose"), false);
    show(form, true);
    const u = new URL(location.href);
    u.searchParams.set("panel", p.id);
    history.replaceState(null, "", u);
    if (focus) $(guest ? "tk-name" : "tk-subject-input").focus();
  }
  $("tk-change").addEventListener("click", () => {
    show(form, false);
    show($("tk-choose"), true);
    const u = new URL(location.href);
    u.searchParams.delete("panel");
    history.replaceState(null, "", u);
    const b = box.querySelector(`[data-panel="${chosen ? chosen.id : ""}"]`) || box.querySelector("button");
    if (b) b.focus();
  });

  function values() {
    const out = {};
    for (const c of $("tk-fields").querySelectorAll("[data-field]")) {
      const name = c.dataset.field;
      switch (c.dataset.type) {
        case "checkbox": out[name] = c.checked; break;
        case "number": if (c.value !== "") out[name] = Number(c.value); break;
        default: if (c.value.trim() !== "") out[name] = c.value;
      }
    }
    return out;
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const msg = $("tk-form-msg");
    const subject = $("tk-subject-input"), description = $("tk-description");
    for (const [c, text] of [[guest && $("tk-name"), T("Write your name.")], [guest && $("tk-email"), T("Write your e-mail address.")],
      [subject, T("Write in a few words what it is about.")], [description, T("Tell us what happened.")]]) {
      if (c && !c.value.trim()) { say(msg, text); c.focus(); return; }
    }
    const radio = (name) => Number(form.querySelector(`input[name=${name}]:checked`).value);
    const body = { panel_id: chosen.id, subject: subject.value, description: description.value, fields: values() };
    body.urgency = radio("urgency");
    body.impact = radio("impact");
    busy(form, msg, async () => {
      if (guest) {
        body.email = $("tk-email").value;
        body.name = $("tk-name").value;
        const r = await api("POST", "/tickets/guest/api/tickets", body);
        location.href = r.link;
        return;
      }
      const t = await api("POST", "/tickets/api/tickets", body);
      // The files go with a first answer of the new ticket: the API takes
      // drafts of an existing ticket only.
      const files = [...$("tk-files").files];
      if (files.length) {
        try {
          const attachments = await upload("/tickets/api", t.id, files);
          await api("POST", `/tickets/api/tickets/${t.id}/replies`, { body: "", attachments });
        } catch (err) {
          sessionStorage.setItem("tk-flash", T("Your request was sent, but the files could not be added: {error} You can add them with an answer.", { error: err.message }));
        }
      }
      location.href = `/tickets/${t.id}`;
    });
  });

  const pre = panels.find((p) => p.id === st.panel) || (panels.length === 1 ? panels[0] : null);
  if (pre) choose(pre, false);
  root.dataset.ready = "true";
}

// ------------------------------------------------------ staff queue page

const TABS = [
  { key: "all", label: () => T("All active"), params: {} },
  { key: "new", label: () => T("New"), params: { status: "new" } },
  { key: "mine", label: () => T("Mine"), params: { assignee: "me" } },
  { key: "unassigned", label: () => T("Unassigned"), params: { assignee: "none" } },
  { key: "overdue", label: () => T("Overdue"), params: { overdue: "1" } },
  { key: "due_soon", label: () => T("Due soon"), params: { due_soon: "1" } },
];
const FILTERS = ["status", "panel", "assignee", "priority", "overdue", "due_soon", "q", "sort", "order"];

function staffPage() {
  let query = { ...(st.query || {}) };
  for (const k of Object.keys(query)) if (Array.isArray(query[k])) query[k] = query[k][0];
  let counts = st.counts || {};
  let next = st.queue ? st.queue.next : null;
  const list = $("tk-queue");
  const panelSelect = $("tk-f-panel");
  for (const p of st.panels || []) panelSelect.append(h("option", { value: String(p.id), text: p.archived ? T("{name} (archived)", { name: p.name }) : p.name }));

  function qs(q, extra) {
    const u = new URLSearchParams();
    for (const k of FILTERS) if (q[k] !== undefined && q[k] !== "") u.set(k, q[k]);
    if (extra) for (const [k, v] of Object.entries(extra)) u.set(k, v);
    return u.toString();
  }
  function tabOf(q) {
    const filters = FILTERS.filter((k) => k !== "q" && k !== "sort" && k !== "order" && q[k] !== undefined && q[k] !== "" && !(k === "status" && q[k] === "active"));
    return TABS.find((t) => filters.length === Object.keys(t.params).length && filters.every((k) => t.params[k] === q[k]));
  }
  function drawTabs() {
    const nav = $("tk-tabs");
    nav.textContent = "";
    const current = tabOf(query);
    for (const t of TABS) {
      const n = t.key === "all" ? (counts.new || 0) + (counts.open || 0) + (counts.pending || 0) + (counts.on_hold || 0) : counts[t.key] || 0;
      const q = { ...t.params, q: query.q, sort: query.sort, order: query.order };
      nav.append(h("a", { href: "/tickets/staff?" + qs(q), class: "tk-tab" + (t.key === "overdue" && n ? " alert" : ""), "aria-current": current === t ? "page" : null, dataset: { tab: t.key },
        onclick: (e) => { e.preventDefault(); go(q); } },
        h("span", { text: t.label() }), " ", h("span", { class: "tk-count", text: String(n) })));
    }
  }
  function fillForm() {
    $("tk-q").value = query.q || "";
    $("tk-f-status").value = query.status || "active";
    panelSelect.value = query.panel || "";
    $("tk-f-assignee").value = ["me", "none"].includes(query.assignee) ? query.assignee : "";
    $("tk-f-priority").value = query.priority || "";
    $("tk-f-sort").value = query.sort || "updated";
    $("tk-f-order").value = query.order || "desc";
  }
  function row(t) {
    const who = t.assignee ? nameOf(t.assignee) : T("nobody");
    const from = t.opener ? nameOf(t.opener) : (t.guest_name || T("a visitor"));
    return h("li", { class: "tk-item" + (t.overdue ? " overdue" : ""), dataset: { ticket: String(t.id) } },
      h("a", { href: `/tickets/${t.id}`, class: "tk-item-link" },
        h("span", { class: "tk-num", text: "#" + t.id }), " ", h("span", { class: "tk-item-subject", text: t.subject }),
        t.overdue ? h("strong", { class: "tk-overdue", text: T("Overdue") }) : null),
      h("span", { class: "tk-item-meta" },
        h("span", { class: "tk-status s-" + t.status, text: staffStatus(t.status) }), " · ",
        h("span", { class: "tk-prio p" + t.priority, text: priorityName(t.priority) }), " · ",
        h("span", { text: t.panel.name }), " · ",
        h("span", { text: T("from {name}", { name: from }) }), " · ",
        h("span", { text: T("assigned to {name}", { name: who }) }), " · ",
        t.next_due && !t.paused ? T("due {when}", { when: when(t.next_due) }) : T("updated {when}", { when: when(t.updated_at) })));
  }
  function draw(tickets, append) {
    if (!append) list.textContent = "";
    for (const t of tickets) list.append(row(t));
    show($("tk-empty"), !list.children.length);
    show($("tk-more"), next !== null && next !== undefined);
    drawTabs();
  }
  async function load() {
    try {
      const [c, q] = await Promise.all([api("GET", "/tickets/staff/api/counts"), api("GET", "/tickets/staff/api/queue?" + qs(query))]);
      counts = c;
      next = q.next;
      draw(q.tickets || [], false);
      say($("tk-error"), "");
    } catch (e) { say($("tk-error"), e.message); }
  }
  function go(q) {
    query = {};
    for (const k of FILTERS) if (q[k] !== undefined && q[k] !== "") query[k] = String(q[k]);
    history.pushState(null, "", "/tickets/staff" + (qs(query) ? "?" + qs(query) : ""));
    fillForm();
    load();
  }
  window.addEventListener("popstate", () => {
    query = Object.fromEntries(new URLSearchParams(location.search));
    fillForm();
    load();
  });
  $("tk-filters").addEventListener("submit", (e) => {
    e.preventDefault();
    // The form sets every filter it shows; the tabs' others (overdue,
    // due soon) stay.
    const q = {};
    for (const k of ["overdue", "due_soon"]) if (query[k]) q[k] = query[k];
    for (const [k, v] of new FormData(e.currentTarget)) if (v !== "") q[k] = v;
    if (q.status === "active") delete q.status;
    if (q.sort === "updated") delete q.sort;
    if (q.order === "desc") delete q.order;
    go(q);
  });
  $("tk-more").addEventListener("click", (e) => busy(e.currentTarget, $("tk-error"), async () => {
    const r = await api("GET", "/tickets/staff/api/queue?" + qs(query, { cursor: next }));
    next = r.next;
    draw(r.tickets || [], true);
  }));
  fillForm();
  draw(st.queue ? st.queue.tickets || [] : [], false);
  cannedEditor(st.panels || []);
  root.dataset.ready = "true";
  const live = $("tk-live");
  live.textContent = T("New requests appear here by themselves.");
  follow((st.panels || []).filter((p) => !p.archived).map((p) => `tickets.panel.${p.id}`), load);
}

// cannedEditor manages the canned replies (any staff member), in the
// queue page's "Canned replies" box; they are read when it is opened.
function cannedEditor(panels) {
  const box = $("tk-canned-box"), list = $("tk-canned-list"), form = $("tk-canned-form"), msg = $("tk-canned-msg");
  const panelSel = $("tk-c-panel");
  for (const p of panels.filter((p) => !p.archived)) panelSel.append(h("option", { value: String(p.id), text: p.name }));
  let editing = 0;
  let loaded = false;
  const panelName = (id) => { const p = panels.find((x) => x.id === id); return p ? p.name : T("Every panel"); };
  function reset() {
    editing = 0;
    $("tk-canned-form-title").textContent = T("New canned reply");
    $("tk-c-title").value = "";
    $("tk-c-body").value = "";
    panelSel.value = "";
    show($("tk-c-cancel"), false);
  }
  async function load() {
    const r = await api("GET", "/tickets/staff/api/canned");
    list.textContent = "";
    for (const c of r.canned || []) {
      list.append(h("li", { class: "tk-item" },
        h("strong", { text: c.title }),
        h("span", { class: "tk-item-meta", text: c.panel_id ? panelName(c.panel_id) : T("Every panel") }),
        h("span", { class: "tk-body tk-muted", text: c.body }),
        h("span", { class: "tk-buttons" },
          h("button", { type: "button", class: "tk-secondary tk-small", "aria-label": T("Edit {name}", { name: c.title }), text: T("Edit"), onclick: () => {
            editing = c.id;
            $("tk-canned-form-title").textContent = T("Edit {name}", { name: c.title });
            $("tk-c-title").value = c.title;
            $("tk-c-body").value = c.body;
            panelSel.value = c.panel_id ? String(c.panel_id) : "";
            show($("tk-c-cancel"), true);
            $("tk-c-title").focus();
          } }),
          h("button", { type: "button", class: "tk-danger tk-small", "aria-label": T("Delete {name}", { name: c.title }), text: T("Delete"), onclick: (e) => {
            if (confirm(T("Delete the canned reply {name}?", { name: c.title }))) busy(e.currentTarget, msg, async () => { await api("DELETE", `/tickets/staff/api/canned/${c.id}`); await load(); });
          } }))));
    }
    if (!list.children.length) list.append(h("li", { class: "tk-muted", text: T("No canned replies yet.") }));
  }
  box.addEventListener("toggle", () => {
    if (box.open && !loaded) { loaded = true; load().catch((e) => { loaded = false; say(msg, e.message); }); }
  });
  $("tk-c-cancel").addEventListener("click", () => { reset(); $("tk-c-title").focus(); });
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!$("tk-c-title").value.trim() || !$("tk-c-body").value.trim()) { say(msg, T("Give the canned reply a title and a text.")); return; }
    const body = { title: $("tk-c-title").value, body: $("tk-c-body").value, panel_id: panelSel.value ? Number(panelSel.value) : null };
    busy(form, msg, async () => {
      if (editing) await api("PUT", `/tickets/staff/api/canned/${editing}`, body);
      else await api("POST", "/tickets/staff/api/canned", body);
      reset();
      announce(T("The canned reply was saved."));
      await load();
    });
  });
}

// ------------------------------------------------------------ admin page

const FIELD_TYPES = ["text", "textarea", "number", "select", "checkbox", "email", "date"];

function adminPage() {
  let panels = (st.panels && st.panels.panels) || [];
  let groups = (st.groups && st.groups.groups) || [];
  const form = $("tk-panel-form");
  let editing = null; // the panel's id, 0 for a new one
  let fieldSeq = 0;

  function typeName(t) {
    return { text: T("Short text"), textarea: T("Long text"), number: T("Number"), select: T("List of choices"), checkbox: T("Yes/no box"), email: T("E-mail address"), date: T("Date") }[t] || t;
  }

  function drawPanels() {
    const ul = $("tk-admin-panels");
    ul.textContent = "";
    for (const p of panels) {
      ul.append(h("li", { class: "tk-item" + (p.archived ? " archived" : "") },
        h("strong", { text: p.name }), p.archived ? h("span", { class: "tk-badge", text: T("Archived") }) : null,
        p.description ? h("span", { class: "tk-item-meta", text: p.description }) : null,
        h("span", { class: "tk-item-meta", text: T("Group: {g} · {n} extra fields · at most {m} open per customer", { g: p.group || T("every staff member"), n: (p.fields || []).length, m: p.max_open }) }),
        p.archived ? null : h("span", { class: "tk-buttons" },
          h("button", { type: "button", class: "tk-secondary", "aria-label": T("Edit {name}", { name: p.name }), text: T("Edit"), onclick: () => edit(p) }),
          h("button", { type: "button", class: "tk-danger", "aria-label": T("Archive {name}", { name: p.name }), text: T("Archive"),
            onclick: (e) => { if (confirm(T("Archive the panel {name}? Its requests stay.", { name: p.name }))) busy(e.currentTarget, $("tk-error"), async () => { await api("DELETE", `/tickets/admin/api/panels/${p.id}`); await reload(); }); } }))));
    }
    if (!panels.length) ul.append(h("li", { class: "tk-muted", text: T("No panels yet.") }));
  }

  function drawGroups() {
    const ul = $("tk-groups");
    ul.textContent = "";
    const sel = $("tk-p-group");
    const keep = sel.value;
    sel.textContent = "";
    sel.append(h("option", { value: "", text: T("Every staff member") }));
    for (const g of groups) {
      sel.append(h("option", { value: g.name, text: g.label + " (" + g.name + ")" }));
      const input = h("input", { type: "text", id: "tk-gm-" + g.name, maxlength: 64, autocomplete: "off" });
      const msg = h("p", { class: "tk-slot", role: "alert", hidden: true });
      ul.append(h("li", { class: "tk-item" },
        h("strong", { text: g.label }), h("span", { class: "tk-muted", text: " (" + g.name + ")" }),
        h("ul", { class: "tk-plain" }, (g.members || []).map((m) => h("li", {}, h("span", { text: nameOf(m) + " (@" + m.username + ") " }),
          h("button", { type: "button", class: "tk-small tk-secondary", "aria-label": T("Take {name} out of {group}", { name: nameOf(m), group: g.label }), text: T("Remove"),
            onclick: (e) => busy(e.currentTarget, msg, async () => { await api("DELETE", `/tickets/admin/api/groups/${encodeURIComponent(g.name)}/members/${m.id}`); await reload(); }) })))),
        (g.members || []).length ? null : h("p", { class: "tk-muted", text: T("No members yet.") }),
        h("div", { class: "tk-row" }, h("label", { for: "tk-gm-" + g.name, text: T("Add a staff member (username)") }), input,
          h("button", { type: "button", class: "tk-secondary", text: T("Add"), onclick: (e) => busy(e.currentTarget, msg, async () => {
            await api("POST", `/tickets/admin/api/groups/${encodeURIComponent(g.name)}/members`, { username: input.value.trim() });
            await reload();
          }) }),
          h("button", { type: "button", class: "tk-danger", text: T("Delete the group"), onclick: (e) => {
            if (confirm(T("Delete the group {name}? Its panels go to every staff member.", { name: g.label }))) busy(e.currentTarget, msg, async () => { await api("DELETE", `/tickets/admin/api/groups/${encodeURIComponent(g.name)}`); await reload(); });
          } })),
        msg));
    }
    sel.value = keep;
    if (!groups.length) ul.append(h("li", { class: "tk-muted", text: T("No groups: every staff member works every panel.") }));
  }

  function fieldRow(f) {
    const n = ++fieldSeq;
    const type = h("select", { id: `tk-fd-type-${n}`, class: "tk-fd-type" }, FIELD_TYPES.map((t) => h("option", { value: t, text: typeName(t) })));
    type.value = f.type || "text";
    const options = h("textarea", { id: `tk-fd-options-${n}`, class: "tk-fd-options", rows: 3 });
    options.value = (f.options || []).join("\n");
    const optionsBox = h("div", { class: "tk-fd-options-box" }, h("label", { for: `tk-fd-options-${n}`, text: T("Choices, one per line") }), options);
    const sync = () => show(optionsBox, type.value === "select");
    type.addEventListener("change", sync);
    const row = h("div", { class: "tk-fd tk-card" },
      h("label", { for: `tk-fd-label-${n}`, text: T("Question shown") }), h("input", { id: `tk-fd-label-${n}`, class: "tk-fd-label", type: "text", maxlength: 80, value: f.label || "" }),
      h("label", { for: `tk-fd-name-${n}`, text: T("Internal name (a-z, 0-9, _)") }), h("input", { id: `tk-fd-name-${n}`, class: "tk-fd-name", type: "text", maxlength: 40, value: f.name || "" }),
      h("label", { for: `tk-fd-type-${n}`, text: T("Kind of answer") }), type,
      optionsBox,
      h("label", { class: "tk-check" }, h("input", { type: "checkbox", class: "tk-fd-required", checked: !!f.required }), " ", T("Required")),
      h("button", { type: "button", class: "tk-secondary tk-small", text: T("Remove this field"), onclick: () => { row.remove(); $("tk-p-field-add").focus(); } }));
    sync();
    return row;
  }

  function edit(p) {
    editing = p ? p.id : 0;
    $("tk-panel-form-title").textContent = p ? T("Edit {name}", { name: p.name }) : T("New panel");
    $("tk-p-name").value = p ? p.name : "";
    $("tk-p-description").value = p ? p.description : "";
    $("tk-p-group").value = p && p.group ? p.group : "";
    $("tk-p-first").value = p && p.first_response_minutes ? p.first_response_minutes : "";
    $("tk-p-resolution").value = p && p.resolution_minutes ? p.resolution_minutes : "";
    $("tk-p-max").value = p ? p.max_open : 3;
    $("tk-p-position").value = p ? p.position : panels.length + 1;
    $("tk-p-guests").checked = !!(p && p.guests);
    const fields = $("tk-p-fields");
    fields.textContent = "";
    for (const f of (p && p.fields) || []) fields.append(fieldRow(f));
    say($("tk-panel-msg"), "");
    show(form, true);
    $("tk-p-name").focus();
  }

  async function reload() {
    const [p, g] = await Promise.all([api("GET", "/tickets/admin/api/panels"), api("GET", "/tickets/admin/api/groups")]);
    panels = p.panels || [];
    groups = g.groups || [];
    drawGroups();
    drawPanels();
  }

  $("tk-panel-new").addEventListener("click", () => edit(null));
  $("tk-panel-cancel").addEventListener("click", () => { show(form, false); $("tk-panel-new").focus(); });
  $("tk-p-field-add").addEventListener("click", () => {
    const row = fieldRow({});
    $("tk-p-fields").append(row);
    row.querySelector("input").focus();
  });
  const num = (id) => ($(id).value === "" ? null : Number($(id).value));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const fields = [...$("tk-p-fields").children].map((row) => {
      const f = { name: row.querySelector(".tk-fd-name").value.trim(), label: row.querySelector(".tk-fd-label").value.trim(), type: row.querySelector(".tk-fd-type").value, required: row.querySelector(".tk-fd-required").checked };
      if (f.type === "select") f.options = row.querySelector(".tk-fd-options").value.split("\n").map((s) => s.trim()).filter(Boolean);
      return f;
    });
    const body = { name: $("tk-p-name").value, description: $("tk-p-description").value, fields, group: $("tk-p-group").value || null,
      first_response_minutes: num("tk-p-first"), resolution_minutes: num("tk-p-resolution"), max_open: num("tk-p-max") || 3,
      guests: $("tk-p-guests").checked, position: num("tk-p-position") || 0 };
    busy(form, $("tk-panel-msg"), async () => {
      if (editing) await api("PUT", `/tickets/admin/api/panels/${editing}`, body);
      else await api("POST", "/tickets/admin/api/panels", body);
      show(form, false);
      announce(T("The panel was saved."));
      await reload();
      $("tk-panel-new").focus();
    });
  });
  $("tk-group-form").addEventListener("submit", (e) => {
    e.preventDefault();
    busy(e.currentTarget, $("tk-group-msg"), async () => {
      await api("POST", "/tickets/admin/api/groups", { name: $("tk-g-name").value.trim(), label: $("tk-g-label").value.trim() });
      $("tk-g-name").value = "";
      $("tk-g-label").value = "";
      announce(T("The group was added."));
      await reload();
    });
  });
  drawGroups();
  drawPanels();
  root.dataset.ready = "true";
}

// ------------------------------------------------------------------ go

{
  const h1 = root.querySelector("h1");
  if (h1) setTitle(h1.textContent.trim());
}
switch (initial.page) {
  case "mine": minePage(); break;
  case "new": newPage(false); break;
  case "guest": newPage(true); break;
  case "ticket": ticketPage(false); break;
  case "guest_ticket": ticketPage(true); break;
  case "staff": staffPage(); break;
  case "admin": adminPage(); break;
  default: root.dataset.ready = "true";
}
