// Web Sonic realtime client (served by the runtime at /static/websonic/realtime.js).
//
//   import { connect } from "/static/websonic/realtime.js";
//   const rt = connect({                        // same host, /ws; every option may be left out
//     state(s, code, reason) { ... },           // "open", or "closed" with the close code (4001: sign in again)
//     error(code, message) { ... },             // an error frame: bad_frame, rate_limited, not_subscribed, refused
//   });
//   const sub = rt.subscribe("chat.lobby", {
//     event(data, id) { ... },                  // each event, in order, once
//     subscribed(id) { ... },                   // the runtime took the subscription
//     reload() { ... },                         // events were missed: reload your state
//     refused(reason) { ... },                  // the module (or a limit) said no: denied, no_module, too_many, already
//     // lastID: N,                             // start after event N (e.g. one the page was rendered with)
//   });
//   rt.send("chat.lobby", {text: "hi"});        // to the module, if subscribed
//   sub.close(); rt.close();
//
// A module page loads it from its own signed asset script (the page's
// Content-Security-Policy runs no inline script): <script type="module"
// src="…"> with the URL sdk.Asset("app.js") gives, and in app.js the import
// above (examples/noticeboard/assets/board.js).
//
// The connection reconnects by itself with a growing, jittered delay (up to
// 30 s) and resubscribes each topic with the id of the last event it got, so
// that the runtime sends what was missed meanwhile, or says reload.
// Protocol: sdk/ABI.md section 11.

const maxDelay = 30000;

export function connect(options = {}) {
  const url = options.url || (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws";
  const topics = new Map(); // topic -> {handlers, lastID}
  let ws = null;
  let closed = false;
  let attempt = 0;
  let timer = null;
  let idle = false; // closed for want of subscriptions: reopened by the next
  const onState = options.state || (() => {});

  function sendFrame(frame) {
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function subscribeFrame(topic, t) {
    const frame = { type: "subscribe", topic };
    if (t.lastID !== null) frame.last_id = t.lastID;
    sendFrame(frame);
  }

  function open() {
    if (closed) return;
    ws = new WebSocket(url);
    ws.onopen = () => {
      attempt = 0;
      onState("open");
      for (const [topic, t] of topics) subscribeFrame(topic, t);
    };
    ws.onmessage = (msg) => {
      let f;
      try { f = JSON.parse(msg.data); } catch { return; }
      if (f.type === "events" && Array.isArray(f.events)) {
        for (const e of f.events) if (e && e.type === "event") handle(e); // a batch, in order
        return;
      }
      handle(f);
    };
    function handle(f) {
      const t = f.topic !== undefined ? topics.get(f.topic) : null;
      switch (f.type) {
        case "event":
          if (!t || (t.lastID !== null && f.id <= t.lastID)) return;
          t.lastID = f.id;
          t.handlers.event && t.handlers.event(f.data, f.id);
          break;
        case "subscribed":
          if (t && t.lastID === null) t.lastID = f.id;
          t && t.handlers.subscribed && t.handlers.subscribed(f.id);
          break;
        case "reload":
          if (t) { t.lastID = f.id; t.handlers.reload && t.handlers.reload(); }
          break;
        case "refused":
          if (t) { topics.delete(f.topic); t.handlers.refused && t.handlers.refused(f.reason); }
          break;
        case "error":
          options.error && options.error(f.code, f.message);
          break;
      }
    }
    ws.onclose = (ev) => {
      ws = null;
      onState("closed", ev.code, ev.reason);
      if (closed || ev.code === 4001) return; // 4001: the session ended; sign in again
      if (ev.code === 4002 && topics.size === 0) { idle = true; return; } // idle
      const delay = Math.min(maxDelay, 500 * 2 ** attempt++) * (0.5 + Math.random() / 2);
      timer = setTimeout(open, delay);
    };
  }

  open();
  return {
    subscribe(topic, handlers = {}) {
      const t = { handlers, lastID: handlers.lastID ?? null };
      topics.set(topic, t);
      if (idle) { idle = false; open(); } // subscribes on open
      else subscribeFrame(topic, t);
      return {
        close() {
          if (topics.get(topic) === t) {
            topics.delete(topic);
            sendFrame({ type: "unsubscribe", topic });
          }
        },
      };
    },
    send(topic, data) {
      return sendFrame({ type: "message", topic, data });
    },
    close() {
      closed = true;
      clearTimeout(timer);
      if (ws) ws.close(1000);
    },
  };
}
