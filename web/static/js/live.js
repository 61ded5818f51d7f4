// live.js: a WebSocket to /ws/telemetry or /ws/alerts that authenticates with
// its first message, subscribes, and reconnects with capped exponential
// backoff. After every reconnect it calls onResync so the page can re-query
// what it may have missed; when it first goes live it calls onFirstReady
// (if given), for a page whose first load came before the stream and where
// a change made in between must not wait for a reconnect (an alert
// acknowledged meanwhile). The header pill shows the state of all streams.

import { accessToken, api } from "./api.js";

const streams = new Set();

function renderState() {
  const el = document.getElementById("live-state");
  if (!el || streams.size === 0) return;
  let state = "live";
  for (const s of streams) {
    if (s.state === "down") { state = "down"; break; }
    if (s.state !== "live") state = "connecting";
  }
  const text = { live: "Live", connecting: "Connecting…", down: "Reconnecting…" }[state];
  el.dataset.state = state;
  el.querySelector(".live-text").textContent = text;
  el.title = state === "down" ? "The live stream is interrupted; values may be stale. Retrying." : "";
}

/** Live is one auto-reconnecting WebSocket stream. */
export class Live {
  /**
   * @param {string} path "/ws/telemetry" or "/ws/alerts"
   * @param {{subscribe?: object[], onMessage: (msg: object) => void, onResync?: () => void, onFirstReady?: () => void}} opts
   */
  constructor(path, opts) {
    this.path = path;
    this.subscribe = opts.subscribe || [];
    this.onMessage = opts.onMessage;
    this.onResync = opts.onResync || (() => {});
    this.onFirstReady = opts.onFirstReady || (() => {});
    this.state = "connecting";
    this.attempt = 0;
    this.everReady = false;
    this.ws = null;
    this.timer = 0;
    this.stopped = false;
    streams.add(this);
    renderState();
  }

  start() { this.connect(); return this; }

  stop() {
    this.stopped = true;
    clearTimeout(this.timer);
    if (this.ws) this.ws.close(1000);
    streams.delete(this);
  }

  setState(s) {
    if (s !== this.state) console.debug("live", this.path, s); // hidden unless the console shows verbose messages
    this.state = s;
    renderState();
  }

  connect() {
    if (this.stopped) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    let ws;
    try { ws = new WebSocket(proto + "//" + location.host + this.path); } catch { this.retry(); return; }
    this.ws = ws;
    let ready = false;
    ws.onopen = () => ws.send(JSON.stringify({ type: "auth", token: accessToken() }));
    ws.onmessage = (ev) => {
      let msg;
      try { msg = JSON.parse(ev.data); } catch { return; }
      if (msg.type === "ready") {
        ready = true;
        for (const sub of this.subscribe) ws.send(JSON.stringify({ type: "subscribe", ...sub }));
        const resync = this.everReady || this.attempt > 0;
        this.everReady = true;
        this.attempt = 0;
        this.setState("live");
        if (resync) this.onResync(); else this.onFirstReady();
        return;
      }
      if (msg.type === "error") return; // the server closes next; onclose retries
      try { this.onMessage(msg); } catch (e) { console.error("live message", e); }
    };
    ws.onclose = () => {
      if (this.ws !== ws) return;
      this.ws = null;
      if (!this.stopped) this.retry();
    };
  }

  async retry() {
    this.setState(this.everReady || this.attempt > 0 ? "down" : "connecting");
    this.attempt++;
    const base = Math.min(30000, 1000 * 2 ** Math.min(this.attempt - 1, 5));
    const delay = base / 2 + Math.random() * base / 2;
    clearTimeout(this.timer);
    this.timer = setTimeout(async () => {
      try {
        // Checks the server is back and renews an expired access token
        // (a 401 here refreshes, or sends the user to sign in).
        await api("/me");
      } catch {
        this.retry();
        return;
      }
      this.connect();
    }, delay);
  }
}
