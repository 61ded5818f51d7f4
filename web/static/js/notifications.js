// notifications.js: the signed-in user's notification preferences: which
// channels, which alerts, quiet hours, the daily digest and linking Telegram.
// What each setting does is explained in docs/alerts.md ("Notifications").

import { api } from "./api.js";
import { h, $, showError, shell } from "./ui.js";

const NAMES = { email: "E-mail", telegram: "Telegram", push: "Push (browser and app)" };
let view = null;

function renderChannels() {
  const el = $("channels");
  el.removeAttribute("aria-busy");
  el.replaceChildren(h("ul", { class: "list" }, ...Object.keys(NAMES).map(ch => {
    const st = view.channels[ch] || {};
    const box = h("input", { type: "checkbox", name: "ch-" + ch, checked: st.enabled, "aria-label": NAMES[ch] });
    box.addEventListener("change", save);
    const state = st.active ? h("span", { class: "badge badge-ok" }, "active") : h("span", { class: "muted small" }, " " + (st.reason || ""));
    return h("li", { "data-channel": ch }, h("label", {}, box, " ", NAMES[ch]), " ", state);
  })));
  const tg = view.channels.telegram || {};
  $("telegram-panel").hidden = !tg.configured;
  $("telegram-state").textContent = view.telegram_linked ? "A chat is linked." : "No chat is linked yet.";
}

function fillForm(assets) {
  const p = view.preferences, f = $("prefs");
  f.min_severity.value = p.min_severity;
  f.email.value = p.email || "";
  f.quiet_start.value = p.quiet_start || "";
  f.quiet_end.value = p.quiet_end || "";
  f.time_zone.value = p.time_zone || "";
  f.digest.checked = p.digest;
  f.digest_hour.value = p.digest_hour;
  $("assets").replaceChildren(...assets.map(a => h("label", {}, h("input", { type: "checkbox", name: "asset", value: a.id, checked: p.asset_ids.includes(a.id) }), " ", a.name)));
}

function body() {
  const f = $("prefs");
  return {
    channels: Object.keys(NAMES).filter(ch => document.querySelector(`[name="ch-${ch}"]`)?.checked),
    min_severity: f.min_severity.value,
    asset_ids: [...f.querySelectorAll('[name="asset"]:checked')].map(b => Number(b.value)),
    quiet_start: f.quiet_start.value, quiet_end: f.quiet_end.value, time_zone: f.time_zone.value.trim(),
    digest: f.digest.checked, digest_hour: Number(f.digest_hour.value || 0), email: f.email.value.trim(),
  };
}

async function save(ev) {
  if (ev) ev.preventDefault();
  showError("", "prefs-error");
  $("prefs-saved").hidden = true;
  try {
    view = await api("/me/notifications", { method: "PUT", body: body() });
    renderChannels();
    $("prefs-saved").hidden = false;
  } catch (e) { showError(e.message, "prefs-error"); }
}

async function main() {
  try { await shell(); } catch (e) { showError(e.message); return; }
  try {
    const [v, assets] = await Promise.all([api("/me/notifications"), api("/assets")]);
    view = v;
    renderChannels();
    fillForm(assets.items || []);
  } catch (e) { showError(e.message); return; }
  $("prefs").addEventListener("submit", save);
  $("telegram-link").addEventListener("click", async () => {
    try {
      const r = await api("/me/telegram-link", { method: "POST" });
      $("telegram-command").textContent = r.start_command;
      $("telegram-open").replaceChildren(...(r.link ? [", or ", h("a", { href: r.link, target: "_blank", rel: "noopener" }, "open the bot")] : []));
      $("telegram-code").hidden = false;
    } catch (e) { showError(e.message); }
  });
}

main();
