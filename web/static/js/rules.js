// rules.js: the alert rules: list, switch on/off, delete, and a form that
// offers each kind with its own fields (docs/alerts.md, "More rule kinds").
// The API validates every field; its message is shown as is.

import { api, atLeast } from "./api.js";
import { h, $, showError, shell, severityBadge } from "./ui.js";

const METRICS = ["vel_rms_x", "vel_rms_y", "vel_rms_z", "acc_rms_x", "acc_rms_y", "acc_rms_z", "kurtosis_x", "kurtosis_y", "kurtosis_z",
  "crest_x", "crest_y", "crest_z", "temp_c", "battery_v", "rssi_dbm"];
const KINDS = { threshold: "Threshold", iso_zone: "ISO zone", anomaly: "Anomaly", diagnosis: "Diagnosis", forecast: "Forecast", offline: "Offline" };
let user = null;
let assets = [], devices = [];

/** summary says in words what a rule watches. */
export function summary(r) {
  const cond = c => `${c.metric} ${c.op} ${c.threshold}` + (c.clear !== undefined && c.clear !== c.threshold ? ` (clears at ${c.clear})` : "");
  switch (r.kind) {
    case "iso_zone": return r.zone === "alarm" || r.zone === "trip" ? `velocity past the ${r.zone} level` : `velocity in ISO zone ${r.zone}`;
    case "anomaly": return `anomaly score above ${r.threshold}` + (r.clear !== r.threshold ? ` (clears at ${r.clear})` : "");
    case "diagnosis": return `${r.fault} with confidence ≥ ${r.min_confidence}`;
    case "forecast": return `alarm level forecast within ${r.within_days} days`;
    case "offline": return `no reading for ${r.offline_minutes} min`;
  }
  if (r.conditions && r.conditions.length) return r.conditions.map(cond).join(r.match === "any" ? " OR " : " AND ");
  return cond(r);
}

function scopeOf(r) {
  if (r.device_id) { const d = devices.find(x => x.id === r.device_id); return "device " + (d ? d.name || d.serial : r.device_id); }
  if (r.asset_id) { const a = assets.find(x => x.id === r.asset_id); return "machine " + (a ? a.name : r.asset_id); }
  return "every device";
}

async function load() {
  const r = await api("/alert-rules");
  const el = $("rules");
  el.removeAttribute("aria-busy");
  if (!r.items.length) { el.replaceChildren(h("p", {}, "No rules yet.")); return; }
  const canEdit = atLeast(user, "engineer");
  el.replaceChildren(h("table", { class: "table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Kind"), h("th", {}, "Fires when"), h("th", {}, "Scope"), h("th", {}, "Severity"), h("th", {}, "On"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
    h("tbody", {}, ...r.items.map(rule => {
      const on = h("input", { type: "checkbox", checked: rule.enabled, disabled: !canEdit, "aria-label": "Enabled: " + rule.name });
      on.addEventListener("change", async () => {
        try { await api("/alert-rules/" + rule.id, { method: "PATCH", body: { enabled: on.checked } }); showError(""); }
        catch (e) { on.checked = !on.checked; showError(e.message); }
      });
      const del = h("button", { type: "button", class: "btn btn-danger", disabled: !canEdit }, "Delete");
      del.addEventListener("click", async () => {
        if (!confirm("Delete the rule " + rule.name + "? Its alerts stay.")) return;
        try { await api("/alert-rules/" + rule.id, { method: "DELETE" }); await load(); showError(""); }
        catch (e) { showError(e.message); }
      });
      return h("tr", { "data-rule-id": rule.id },
        h("td", { "data-label": "Name" }, rule.name),
        h("td", { "data-label": "Kind" }, KINDS[rule.kind] || rule.kind),
        h("td", { "data-label": "Fires when" }, summary(rule)),
        h("td", { "data-label": "Scope" }, scopeOf(rule)),
        h("td", { "data-label": "Severity" }, severityBadge(rule.severity)),
        h("td", { "data-label": "On" }, on),
        h("td", {}, del));
    }))));
}

function conditionRow() {
  const row = h("div", { class: "condition" },
    h("select", { name: "c_metric", "aria-label": "Metric" }, ...METRICS.map(m => h("option", { value: m }, m))),
    h("select", { name: "c_op", "aria-label": "Above or below" }, h("option", { value: "above" }, "above"), h("option", { value: "below" }, "below")),
    h("input", { type: "number", name: "c_threshold", step: "any", placeholder: "threshold", "aria-label": "Threshold" }),
    h("input", { type: "number", name: "c_clear", step: "any", placeholder: "clears at (optional)", "aria-label": "Clears at" }));
  const rm = h("button", { type: "button", class: "btn", "aria-label": "Remove condition" }, "×");
  rm.addEventListener("click", () => { if ($("conditions").children.length > 1) row.remove(); });
  row.append(rm);
  return row;
}

function showFields(form) {
  const kind = form.kind.value;
  for (const el of form.querySelectorAll("[data-kinds]")) el.hidden = !el.dataset.kinds.split(" ").includes(kind);
  for (const el of form.querySelectorAll("[data-scope]")) el.hidden = el.dataset.scope !== form.scope.value;
}

/** body builds the API body of the form: only the fields its kind uses. */
function body(form) {
  const num = v => v === "" ? undefined : Number(v);
  const b = { name: form.name.value.trim(), kind: form.kind.value, severity: form.severity.value };
  if (form.scope.value === "asset") b.asset_id = Number(form.asset_id.value);
  if (form.scope.value === "device") b.device_id = Number(form.device_id.value);
  switch (b.kind) {
    case "threshold": {
      const conds = [...$("conditions").children].map(row => ({
        metric: row.querySelector("[name=c_metric]").value, op: row.querySelector("[name=c_op]").value,
        threshold: num(row.querySelector("[name=c_threshold]").value), clear: num(row.querySelector("[name=c_clear]").value),
      }));
      if (conds.length === 1) Object.assign(b, conds[0]);
      else { b.conditions = conds; b.match = form.match.value; }
      b.for_seconds = num(form.for_seconds.value) || 0;
      b.clear_for_seconds = num(form.clear_for_seconds.value) || 0;
      break;
    }
    case "iso_zone":
      b.zone = form.zone.value;
      b.for_seconds = num(form.for_seconds.value) || 0;
      b.clear_for_seconds = num(form.clear_for_seconds.value) || 0;
      break;
    case "anomaly": b.threshold = num(form.score.value); b.clear = num(form.score_clear.value); break;
    case "diagnosis": b.fault = form.fault.value; b.min_confidence = num(form.min_confidence.value); break;
    case "forecast": b.within_days = num(form.within_days.value); break;
    case "offline": b.offline_minutes = num(form.offline_minutes.value); break;
  }
  return b;
}

async function main() {
  try { user = await shell(); } catch (e) { showError(e.message); return; }
  try {
    [assets, devices] = await Promise.all([api("/assets").then(r => r.items), api("/devices").then(r => r.items)]);
  } catch (e) { showError(e.message); }
  if (atLeast(user, "engineer")) {
    $("rule-create-panel").hidden = false;
    const form = $("rule-create");
    form.asset_id.replaceChildren(...assets.map(a => h("option", { value: a.id }, a.name)));
    form.device_id.replaceChildren(...devices.map(d => h("option", { value: d.id }, d.name || d.serial)));
    $("conditions").append(conditionRow());
    $("add-condition").addEventListener("click", () => { if ($("conditions").children.length < 8) $("conditions").append(conditionRow()); });
    form.kind.addEventListener("change", () => showFields(form));
    form.scope.addEventListener("change", () => showFields(form));
    showFields(form);
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      showError("", "rule-create-error");
      try {
        await api("/alert-rules", { method: "POST", body: body(form) });
        form.reset();
        $("conditions").replaceChildren(conditionRow());
        showFields(form);
        await load();
      } catch (e) { showError(e.message, "rule-create-error"); }
    });
  }
  try { await load(); } catch (e) { showError(e.message); }
}

main();
