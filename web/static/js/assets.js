// assets.js: the machines (assets) of the org; engineers and above can add
// and edit them (name, type, rpm, ISO 10816-3 group, foundation, bearing).

import { api, atLeast } from "./api.js";
import { h, $, showError, shell } from "./ui.js";

let user = null;
let assets = [];
const form = $("asset-form");
const panel = $("asset-form-panel");

function openForm(a) {
  panel.hidden = false;
  $("asset-form-title").textContent = a ? "Edit " + a.name : "Add machine";
  form.id.value = a ? a.id : "";
  form.name.value = a ? a.name : "";
  form.type.value = a ? a.type : "";
  form.rpm.value = a && a.rpm ? a.rpm : "";
  form.iso_group.value = a ? String(a.iso_group) : "2";
  form.foundation.value = a ? a.foundation : "rigid";
  form.bearing.value = a ? a.bearing : "";
  showError("", "asset-form-error");
  form.name.focus();
}

async function load() {
  const [ar, dr] = await Promise.all([api("/assets"), api("/devices")]);
  assets = ar.items.sort((a, b) => a.name.localeCompare(b.name));
  const count = new Map();
  for (const d of dr.items) if (d.asset_id) count.set(d.asset_id, (count.get(d.asset_id) || 0) + 1);
  const el = $("assets");
  el.removeAttribute("aria-busy");
  if (!assets.length) {
    el.replaceChildren(h("div", { class: "empty" }, h("p", { class: "empty-title" }, "No machines yet — start the demo or register a device"),
      h("p", { class: "muted" }, atLeast(user, "engineer") ? "Add a machine, then attach its sensors to it." : "An engineer of your organization can add machines.")));
    return;
  }
  const canEdit = atLeast(user, "engineer");
  el.replaceChildren(h("table", { class: "table" },
    h("thead", {}, h("tr", {}, h("th", {}, "Name"), h("th", {}, "Type"), h("th", {}, "Speed"), h("th", {}, "ISO group"), h("th", {}, "Foundation"), h("th", {}, "Bearing"), h("th", {}, "Sensors"), canEdit ? h("th", {}, h("span", { class: "sr-only" }, "Actions")) : null)),
    h("tbody", {}, ...assets.map(a => h("tr", { id: String(a.id), "data-asset-id": a.id },
      h("td", { "data-label": "Name" }, h("a", { href: "/assets/" + a.id }, h("strong", {}, a.name))),
      h("td", { "data-label": "Type" }, a.type || "–"),
      h("td", { "data-label": "Speed" }, a.rpm ? Math.round(a.rpm) + " rpm" : "–"),
      h("td", { "data-label": "ISO group" }, String(a.iso_group)),
      h("td", { "data-label": "Foundation" }, a.foundation),
      h("td", { "data-label": "Bearing" }, a.bearing || "–"),
      h("td", { "data-label": "Sensors" }, String(count.get(a.id) || 0)),
      canEdit ? h("td", {}, h("button", { type: "button", class: "btn", onclick: () => openForm(a) }, "Edit")) : null)))));
}

async function main() {
  try { user = await shell(); } catch (e) { showError(e.message); return; }
  if (atLeast(user, "engineer")) {
    const btn = $("asset-new");
    btn.hidden = false;
    btn.addEventListener("click", () => openForm(null));
  }
  $("asset-cancel").addEventListener("click", () => { panel.hidden = true; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {
      name: form.name.value.trim(), type: form.type.value.trim(),
      rpm: form.rpm.value === "" ? 0 : Number(form.rpm.value),
      iso_group: Number(form.iso_group.value), foundation: form.foundation.value, bearing: form.bearing.value.trim(),
    };
    if (!body.name) { showError("A name is required.", "asset-form-error"); return; }
    const id = form.id.value;
    try {
      await api(id ? "/assets/" + id : "/assets", { method: id ? "PATCH" : "POST", body });
      panel.hidden = true;
      await load();
    } catch (e) { showError(e.message, "asset-form-error"); }
  });
  try { await load(); } catch (e) { showError(e.message); }
}

main();
