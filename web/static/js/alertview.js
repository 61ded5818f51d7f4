// alertview.js: one alert as a list item, with acknowledge (optional
// comment) and resolve buttons for roles that may use them.

import { api } from "./api.js";
import { h, ago, when, fmt, severityBadge, metricLabel, metricUnit, splitMessage } from "./ui.js";

const STATUS_TEXT = { open: "Open", acknowledged: "Acknowledged", resolved: "Resolved" };

/**
 * loadRuleKinds fills kinds (rule id -> kind) with the org's rules: an
 * alert of a diagnosis rule has no limit. Left as it is when the rules
 * cannot be read.
 * @param {Map<number, string>} kinds
 */
export async function loadRuleKinds(kinds) {
  try {
    const r = await api("/alert-rules");
    for (const x of r.items) kinds.set(x.id, x.kind);
  } catch { /* the limit is then shown for every alert */ }
}

/**
 * alertItem renders alert a.
 * @param {object} a the Alert
 * @param {{canAct: boolean, deviceName: (id: number) => string, ruleKinds?: Map<number, string>, onChange: (a: object) => void, onError: (msg: string) => void}} opts
 */
export function alertItem(a, opts) {
  const unit = metricUnit(a.metric || "");
  const [what, evidence] = splitMessage(a.message || (metricLabel(a.metric) + " " + fmt(a.value, 2) + " " + unit));
  const detail = [];
  if (a.metric) {
    // A diagnosis has no limit: its value is the axis's velocity, for context.
    const limit = typeof a.threshold === "number" && !(opts.ruleKinds && opts.ruleKinds.get(a.rule_id) === "diagnosis");
    detail.push(metricLabel(a.metric) + ": " + fmt(a.value, 2) + " " + unit +
      (limit ? " (limit " + fmt(a.threshold, 2) + " " + unit + ")" : "") +
      (typeof a.peak === "number" ? ", peak " + fmt(a.peak, 2) + " " + unit : ""));
  }
  const li = h("article", { class: "alert-item sev-" + a.severity + " st-" + a.status, "data-alert-id": a.id },
    h("div", { class: "alert-top" },
      severityBadge(a.severity),
      h("span", { class: "alert-status", "data-status": a.status }, STATUS_TEXT[a.status] || a.status),
      h("time", { class: "muted small", datetime: a.opened_at, title: when(a.opened_at) }, "opened " + ago(a.opened_at))),
    h("p", { class: "alert-msg" }, h("a", { href: "/alerts/" + a.id, class: "alert-link" }, what)),
    evidence ? h("p", { class: "small alert-evidence" }, evidence) : null,
    h("p", { class: "muted small" },
      a.device_id ? h("a", { href: "/devices/" + a.device_id }, opts.deviceName(a.device_id)) : null,
      detail.length ? " · " + detail.join("") : ""),
    a.status !== "open" && a.acked_at ? h("p", { class: "small" },
      "Acknowledged " + ago(a.acked_at) + (a.ack_comment ? ": “" + a.ack_comment + "”" : "")) : null,
    a.status === "resolved" && a.resolved_at ? h("p", { class: "small" }, "Resolved " + ago(a.resolved_at)) : null,
    a.assignee_id || a.escalation_level ? h("p", { class: "small alert-people" },
      a.assignee_id ? "Assigned" + (opts.userName ? " to " + opts.userName(a.assignee_id) : "") : "",
      a.assignee_id && a.escalation_level ? " · " : "",
      a.escalation_level ? "Escalated to level " + a.escalation_level : "") : null,
  );
  if (opts.canAct && a.status !== "resolved") li.append(actions(a, opts));
  return li;
}

function actions(a, opts) {
  const row = h("div", { class: "alert-actions" });
  const act = async (btn, path, body) => {
    btn.disabled = true;
    try {
      const updated = await api("/alerts/" + a.id + path, { method: "POST", body });
      opts.onChange(updated);
    } catch (e) {
      btn.disabled = false;
      opts.onError(e.message);
    }
  };
  if (a.status === "open") {
    const comment = h("input", { type: "text", name: "comment", maxlength: "500", placeholder: "Comment (optional)", "aria-label": "Comment" });
    const confirm = h("button", { type: "submit", class: "btn btn-primary btn-ack-confirm" }, "Confirm acknowledge");
    const form = h("form", { class: "ack-form", hidden: true }, comment, confirm,
      h("button", { type: "button", class: "btn", onclick: () => { form.hidden = true; ack.hidden = false; } }, "Cancel"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const c = comment.value.trim();
      act(confirm, "/ack", c ? { comment: c } : {});
    });
    const ack = h("button", { type: "button", class: "btn btn-ack", onclick: () => { form.hidden = false; ack.hidden = true; comment.focus(); } }, "Acknowledge");
    row.append(ack, form);
  }
  const resolve = h("button", { type: "button", class: "btn btn-resolve" }, "Resolve");
  resolve.addEventListener("click", () => act(resolve, "/resolve"));
  row.append(resolve);
  return row;
}

/** sortAlerts orders newest first, as the API does. */
export function sortAlerts(list) {
  return list.sort((x, y) => Date.parse(y.opened_at) - Date.parse(x.opened_at) || y.id - x.id);
}
