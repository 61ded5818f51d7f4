// users.js: user management for admins: list, add, change role, delete.
// An admin may not grant a role above their own; the API enforces it too.
// The owner also sets the organization's name and retentions here.

import { api, atLeast } from "./api.js";
import { h, $, when, showError, shell } from "./ui.js";

const ROLES = ["viewer", "engineer", "admin", "owner"];
let user = null;

function roleSelect(u) {
  const allowed = ROLES.filter(r => atLeast(user, r));
  const sel = h("select", { "aria-label": "Role of " + u.email, disabled: u.id === user.id || !atLeast(user, u.role) },
    ...(allowed.includes(u.role) ? allowed : [...allowed, u.role]).map(r => h("option", { value: r, selected: r === u.role }, r)));
  sel.addEventListener("change", async () => {
    sel.disabled = true;
    try {
      await api("/users/" + u.id, { method: "PATCH", body: { role: sel.value } });
      u.role = sel.value;
      showError("");
    } catch (e) { sel.value = u.role; showError(e.message); }
    sel.disabled = false;
  });
  return sel;
}

async function load() {
  const r = await api("/users");
  const el = $("users");
  el.removeAttribute("aria-busy");
  const sorted = r.items.sort((a, b) => a.email.localeCompare(b.email));
  el.replaceChildren(h("table", { class: "table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "E-mail"), h("th", {}, "Role"), h("th", { class: "hide-sm" }, "Added"), h("th", {}, h("span", { class: "sr-only" }, "Actions")))),
    h("tbody", {}, ...sorted.map(u => {
      const del = h("button", { type: "button", class: "btn btn-danger", disabled: u.id === user.id || !atLeast(user, u.role) }, "Delete");
      del.addEventListener("click", async () => {
        if (!confirm("Delete " + u.email + "? They can no longer sign in.")) return;
        del.disabled = true;
        try { await api("/users/" + u.id, { method: "DELETE" }); await load(); showError(""); }
        catch (e) { del.disabled = false; showError(e.message); }
      });
      return h("tr", { "data-user-id": u.id },
        h("td", { "data-label": "Name" }, u.name || "–", u.id === user.id ? h("span", { class: "muted small" }, " (you)") : null),
        h("td", { "data-label": "E-mail" }, u.email),
        h("td", { "data-label": "Role" }, roleSelect(u)),
        h("td", { "data-label": "Added", class: "hide-sm" }, when(u.created_at)),
        h("td", {}, del));
    }))));
}

// setupOrg fills the organization form (owners only: the API lets only
// them change it). Shortening a retention deletes data for good, so the
// first Save says what will go and the second one saves.
async function setupOrg() {
  const form = $("org-form");
  let org = await api("/orgs/current");
  const fill = () => {
    form.name.value = org.name;
    form.retention_days.value = org.retention_days;
    form.waveform_retention_days.value = org.waveform_retention_days;
    $("org-pruned").textContent = org.pruned_before ? "Raw readings before " + when(org.pruned_before) + " have been deleted." : "";
  };
  fill();
  $("org-panel").hidden = false;
  let confirmed = ""; // the body the warning was shown for
  const unconfirm = () => { confirmed = ""; $("org-warning").hidden = true; $("org-save").textContent = "Save"; };
  const shorter = (now, was) => now > 0 && (was === 0 || now < was);
  form.addEventListener("input", () => { unconfirm(); $("org-saved").hidden = true; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("", "org-error");
    const body = { name: form.name.value.trim(), retention_days: Number(form.retention_days.value), waveform_retention_days: Number(form.waveform_retention_days.value) };
    if (!form.checkValidity()) { showError("The name is required and each retention is 0 (forever) to 36500 days.", "org-error"); return; }
    const goes = [];
    if (shorter(body.retention_days, org.retention_days)) goes.push("raw readings older than " + body.retention_days + " days");
    if (shorter(body.waveform_retention_days, org.waveform_retention_days)) goes.push("bursts older than " + body.waveform_retention_days + " days");
    const key = JSON.stringify(body);
    if (goes.length && confirmed !== key) {
      confirmed = key;
      showError("This deletes " + goes.join(" and ") + " within the hour; they cannot be recovered. Save again to confirm.", "org-warning");
      $("org-save").textContent = "Save and delete older data";
      return;
    }
    try {
      org = await api("/orgs/current", { method: "PATCH", body });
      fill();
      unconfirm();
      $("org-saved").hidden = false;
    } catch (e) { showError(e.message, "org-error"); }
  });
}

async function main() {
  try { user = await shell(); } catch (e) { showError(e.message); return; }
  if (atLeast(user, "owner")) setupOrg().catch(e => showError(e.message));
  if (!atLeast(user, "admin")) {
    $("users").replaceChildren(h("p", {}, "Only admins can manage users. Ask an admin of your organization for access."));
    $("users").removeAttribute("aria-busy");
    return;
  }
  $("user-create-panel").hidden = false;
  const form = $("user-create");
  for (const o of form.role.options) o.disabled = !atLeast(user, o.value);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    showError("", "user-create-error");
    const body = { email: form.email.value.trim(), name: form.name.value.trim(), role: form.role.value, password: form.password.value };
    if (!body.email || !body.password) { showError("E-mail and password are required.", "user-create-error"); return; }
    try {
      await api("/users", { method: "POST", body });
      form.reset();
      await load();
    } catch (e) { showError(e.message, "user-create-error"); }
  });
  try { await load(); } catch (e) { showError(e.message); }
}

main();
