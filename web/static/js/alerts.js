// alerts.js: the alert list with status, severity and assignee filters,
// acknowledge and resolve for engineers and above, live updates from
// /ws/alerts. Each alert links to its page (alert.js).

import { api, atLeast } from "./api.js";
import { Live } from "./live.js";
import { h, $, showError, shell, refreshAlertCount } from "./ui.js";
import { alertItem, sortAlerts, loadRuleKinds } from "./alertview.js";

let user = null;
const alerts = new Map();
const names = new Map(); // device id -> name
const fStatus = $("f-status"), fSev = $("f-severity"), fAsg = $("f-assignee"), fAsset = $("f-asset");

// The filters live in the URL so a link to "critical, open" can be shared.
function readURL() {
  const q = new URLSearchParams(location.search);
  if (q.has("status")) fStatus.value = q.get("status");
  if (q.has("severity")) fSev.value = q.get("severity");
  if (q.has("assignee")) fAsg.value = q.get("assignee");
  // The machines are listed later (loadNames); keep the wanted one until then.
  if (q.has("asset")) { fAsset.append(h("option", { value: q.get("asset") }, "Machine " + q.get("asset"))); fAsset.value = q.get("asset"); }
}
function writeURL() {
  const q = new URLSearchParams();
  if (fStatus.value !== "active") q.set("status", fStatus.value);
  if (fSev.value) q.set("severity", fSev.value);
  if (fAsg.value) q.set("assignee", fAsg.value);
  if (fAsset.value) q.set("asset", fAsset.value);
  history.replaceState(null, "", location.pathname + (q.size ? "?" + q : ""));
}

function matches(a) {
  const st = fStatus.value;
  if (st === "active" && a.status === "resolved") return false;
  if (st && st !== "active" && a.status !== st) return false;
  if (fAsg.value === "me" && (!user || a.assignee_id !== user.id)) return false;
  if (fAsg.value === "none" && a.assignee_id) return false;
  if (fAsset.value && String(a.asset_id) !== fAsset.value) return false;
  return !fSev.value || a.severity === fSev.value;
}

// changes counts live updates and the user's own changes to the list: a
// quiet read that started before one of them is older than what is shown.
let changes = 0;

// load re-reads the list and draws it. With quiet (a catch-up), it draws
// only when the list differs from what is shown, so a read that finds
// nothing new leaves the page (and a click on it) alone, and not at all
// when the list changed while the read was on its way (what is shown is
// newer).
async function load({ quiet = false } = {}) {
  const seen = changes;
  const st = fStatus.value;
  // The server filters by assignee too, so "mine" is complete however many
  // alerts the org has; matches() applies the same filter to live updates.
  const asg = (fAsg.value ? "&assignee=" + encodeURIComponent(fAsg.value) : "") +
    (fAsset.value ? "&asset_id=" + encodeURIComponent(fAsset.value) : "");
  const lists = st === "active"
    ? await Promise.all([api("/alerts?status=open&limit=500" + asg), api("/alerts?status=acknowledged&limit=500" + asg)])
    : [await api("/alerts?limit=500" + asg + (st ? "&status=" + encodeURIComponent(st) : ""))];
  const next = new Map();
  for (const l of lists) for (const a of l.items) next.set(a.id, a);
  if (quiet && (seen !== changes || sameAlerts(next))) return;
  alerts.clear();
  for (const [k, a] of next) alerts.set(k, a);
  render();
}

function sameAlerts(next) {
  const key = (m) => JSON.stringify([...m.values()].filter(matches).sort((a, b) => a.id - b.id));
  return key(next) === key(alerts);
}

const people = new Map(); // user id -> name
const ruleKinds = new Map(); // rule id -> kind

async function loadNames() {
  try {
    const [d, us, as] = await Promise.all([api("/devices"), api("/users").catch(() => ({ items: [] })), api("/assets"), loadRuleKinds(ruleKinds)]);
    for (const x of d.items) names.set(x.id, x.name || x.serial);
    const want = fAsset.value;
    fAsset.replaceChildren(h("option", { value: "" }, "All machines"),
      ...as.items.sort((a, b) => a.name.localeCompare(b.name)).map(a => h("option", { value: String(a.id) }, a.name)));
    fAsset.value = want;
    for (const u of us.items) people.set(u.id, u.name || u.email);
  } catch { /* names are cosmetic */ }
}

function render() {
  const el = $("alerts");
  el.removeAttribute("aria-busy");
  const list = sortAlerts([...alerts.values()].filter(matches));
  if (!list.length) {
    el.replaceChildren(h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No alerts match."),
      h("p", { class: "muted" }, fStatus.value === "active" ? "All machines are within their limits." : "Try another filter.")));
    return;
  }
  const canAct = atLeast(user, "engineer");
  el.replaceChildren(...list.map(a => alertItem(a, {
    canAct,
    deviceName: (id) => names.get(id) || "Device " + id,
    userName: (id) => people.get(id) || "user " + id,
    ruleKinds,
    onChange: (na) => { changes++; alerts.set(na.id, na); render(); refreshAlertCount(); },
    onError: (m) => showError(m),
  })));
}

async function main() {
  readURL();
  try {
    [user] = await Promise.all([shell(), loadNames()]);
    await load();
  } catch (e) { showError(e.message); return; }
  for (const f of [fStatus, fSev, fAsg, fAsset]) f.addEventListener("change", () => { writeURL(); load().then(() => showError("")).catch(e => showError(e.message)); });
  new Live("/ws/alerts", {
    onMessage: (msg) => {
      if (msg.type !== "alert") return;
      const { event, ...a } = msg.data; // event: the timeline entry, shown on the alert's page
      changes++;
      alerts.set(a.id, a);
      if ((a.device_id && !names.has(a.device_id)) || !ruleKinds.has(a.rule_id)) loadNames().then(render);
      render();
      refreshAlertCount();
    },
    onResync: () => load().then(() => showError("")).catch(e => showError(e.message)),
    // An alert opened or acknowledged between the first load and now.
    onFirstReady: () => load({ quiet: true }).catch(e => showError(e.message)),
  }).start();
}

main();
