// The noticeboard's live updates: a signed asset of the module, the only
// kind of script its pages may run (sdk/ABI.md section 15). It uses the
// runtime's realtime client to hear of new notices and adds them to the
// list; after a long absence (reload) it reloads the page.
import { connect } from "/static/websonic/realtime.js";

const list = document.getElementById("notices");
const status = document.getElementById("live");

const rt = connect({ state(s) { status.textContent = s === "open" ? "live" : "reconnecting…"; } });
rt.subscribe("noticeboard.new", {
  event(n) {
    const li = document.createElement("li");
    const who = document.createElement("strong");
    who.textContent = n.author;
    const when = document.createElement("time");
    when.className = "muted";
    when.textContent = " " + n.at;
    const text = document.createElement("p");
    text.textContent = n.text; // text, never HTML
    li.append(who, when, text);
    li.dataset.id = n.id;
    document.getElementById("empty")?.remove();
    list.prepend(li);
  },
  reload() { location.reload(); },
  refused(reason) { status.textContent = "live updates unavailable: " + reason; },
});
