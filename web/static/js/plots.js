// plots.js: drawing on top of uPlot (zone bands, level lines, frequency
// markers, harmonic cursors) and the canvas waterfall of recent spectra.
// Everything is drawn on canvases, so the strict CSP (no inline styles) holds.

import { markerFamily, markerLabel } from "./words.js";

/** MARKER_STYLE gives each marker family a colour-blind-safe colour and a
 * dash pattern; labels carry the name, so colour is never the only cue. */
export const MARKER_STYLE = {
  shaft: { color: "#000000", dash: [2, 3] },
  BPFO: { color: "#D55E00", dash: [6, 3] },
  BPFI: { color: "#0072B2", dash: [6, 3] },
  BSF: { color: "#009E73", dash: [10, 3, 2, 3] },
  FTF: { color: "#CC79A7", dash: [10, 3, 2, 3] },
  other: { color: "#52606d", dash: [4, 4] },
};

/** ZONE_FILL are the ISO zone background bands, light enough for the line. */
export const ZONE_FILL = { A: "rgba(47,158,85,0.16)", B: "rgba(120,190,80,0.13)", C: "rgba(230,160,0,0.18)", D: "rgba(214,44,54,0.16)" };

function px(n) { return Math.round(n * (window.devicePixelRatio || 1)); }
function font(size, weight = "") { return weight + " " + px(size) + "px system-ui, sans-serif"; }

/** zonePlugin draws ISO zone bands behind the series and dashed alarm/trip
 * lines over them. get() returns {bounds:[ab,bc,cd], lines:[{y,label,color}]}
 * or null. */
export function zonePlugin(get) {
  return {
    hooks: {
      drawClear: [(u) => {
        const z = get();
        if (!z || !z.bounds) return;
        const { ctx, bbox } = u;
        const edges = [0, ...z.bounds, Infinity];
        const names = ["A", "B", "C", "D"];
        ctx.save();
        ctx.font = font(12, "bold");
        ctx.textAlign = "right";
        ctx.textBaseline = "top";
        for (let i = 0; i < 4; i++) {
          const ymax = u.scales.y.max, ymin = u.scales.y.min;
          const lo = Math.max(edges[i], ymin), hi = Math.min(edges[i + 1], ymax);
          if (!(hi > lo)) continue;
          const top = u.valToPos(hi, "y", true), bot = u.valToPos(lo, "y", true);
          ctx.fillStyle = ZONE_FILL[names[i]];
          ctx.fillRect(bbox.left, top, bbox.width, bot - top);
          if (bot - top > px(14)) {
            ctx.fillStyle = "rgba(21,32,43,0.6)";
            ctx.fillText("Zone " + names[i], bbox.left + bbox.width - px(6), top + px(3));
          }
        }
        ctx.restore();
      }],
      draw: [(u) => {
        const z = get();
        if (!z || !z.lines) return;
        const { ctx, bbox } = u;
        ctx.save();
        ctx.font = font(12, "bold");
        ctx.textAlign = "left";
        ctx.textBaseline = "bottom";
        for (const l of z.lines) {
          if (!(l.y > u.scales.y.min && l.y < u.scales.y.max)) continue;
          const y = Math.round(u.valToPos(l.y, "y", true)) + 0.5;
          ctx.strokeStyle = l.color;
          ctx.lineWidth = px(2);
          ctx.setLineDash(l.dash.map(px));
          ctx.beginPath();
          ctx.moveTo(bbox.left, y);
          ctx.lineTo(bbox.left + bbox.width, y);
          ctx.stroke();
          // Labels sit above the top line and below the others, so an
          // alarm close under the trip line keeps both readable.
          ctx.fillStyle = l.color;
          const above = l === z.lines.reduce((a, b) => (b.y > a.y ? b : a));
          ctx.textBaseline = above ? "bottom" : "top";
          ctx.fillText(l.label, bbox.left + px(6), above ? y - px(2) : y + px(3));
        }
        ctx.restore();
      }],
    },
  };
}

/** markerPlugin draws vertical markers {hz,label} and harmonic cursors
 * {hz,label}. It writes how many markers and cursors are visible to
 * el.dataset.markers and el.dataset.cursors (the browser test reads them). */
export function markerPlugin(el, getMarkers, getCursors) {
  return {
    hooks: {
      draw: [(u) => {
        const { ctx, bbox } = u;
        const xmin = u.scales.x.min, xmax = u.scales.x.max;
        ctx.save();
        ctx.font = font(11, "bold");
        ctx.textBaseline = "top";
        const rows = []; // right edge of the last label in each row
        // Labels take the first of three rows where they fit; a marker
        // crowded out of all three keeps its line (hover the legend chip).
        const label = (x, text, color) => {
          const w = ctx.measureText(text).width + px(6);
          let r = 0;
          while (r < rows.length && rows[r] > x - w / 2) r++;
          if (r >= 3) return;
          rows[r] = x + w / 2;
          const y = bbox.top + px(2) + r * px(14);
          ctx.fillStyle = "rgba(255,255,255,0.85)";
          ctx.fillRect(x - w / 2, y - px(1), w, px(14));
          ctx.fillStyle = color;
          ctx.textAlign = "center";
          ctx.fillText(text, x, y);
        };
        let shown = 0;
        const list = getMarkers().filter(m => m.hz >= xmin && m.hz <= xmax).sort((a, b) => a.hz - b.hz);
        let lastX = -Infinity;
        for (const m of list) {
          const st = MARKER_STYLE[markerFamily(m.label)] || MARKER_STYLE.other;
          const x = Math.round(u.valToPos(m.hz, "x", true)) + 0.5;
          // Lines closer than 3 px are one smudge: zoom in to tell them apart.
          if (x - lastX < px(3)) continue;
          lastX = x;
          ctx.strokeStyle = st.color;
          ctx.lineWidth = px(1.25);
          ctx.setLineDash(st.dash.map(px));
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          label(x, markerLabel(m.label), st.color);
          shown++;
        }
        let cursors = 0;
        for (const c of getCursors()) {
          if (c.hz < xmin || c.hz > xmax) continue;
          const x = Math.round(u.valToPos(c.hz, "x", true)) + 0.5;
          ctx.strokeStyle = "#6a1b9a";
          ctx.lineWidth = px(c.k === 1 ? 2 : 1.5);
          ctx.setLineDash(c.k === 1 ? [] : [px(3), px(3)]);
          ctx.beginPath();
          ctx.moveTo(x, bbox.top);
          ctx.lineTo(x, bbox.top + bbox.height);
          ctx.stroke();
          ctx.fillStyle = "#6a1b9a";
          ctx.textAlign = "left";
          ctx.textBaseline = "bottom";
          ctx.fillText(c.k + "×", x + px(3), bbox.top + bbox.height - px(3));
          ctx.textBaseline = "top";
          cursors++;
        }
        ctx.restore();
        el.dataset.markers = String(shown);
        el.dataset.cursors = String(cursors);
      }],
    },
  };
}

// Viridis at 9 stops: perceptually even and readable with colour blindness.
const VIRIDIS = [[68, 1, 84], [71, 44, 122], [59, 81, 139], [44, 113, 142], [33, 144, 141], [39, 173, 129], [92, 200, 99], [170, 220, 50], [253, 231, 37]];

/** colormap maps t in 0..1 to an [r,g,b] of viridis. */
export function colormap(t) {
  t = Math.max(0, Math.min(1, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(t)), f = t - i;
  const a = VIRIDIS[i], b = VIRIDIS[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/** WATERFALL_LAYOUT is the waterfall's margins in CSS pixels. */
export const WATERFALL_LAYOUT = { left: 78, right: 12, top: 8, bottom: 44, row: 14, range: 60 };

/** drawWaterfall paints rows (newest first: {id, ts, df, amp}) as a heat map
 * of amplitude (dB, the top `range` dB) against frequency [fmin, fmax] and
 * time, with axes in Hz and burst times. Rows still loading are grey. */
export function drawWaterfall(canvas, rows, { fmin = 0, fmax, selected = 0, now = Date.now() } = {}) {
  const L = WATERFALL_LAYOUT;
  const dpr = window.devicePixelRatio || 1;
  const cssW = Math.max(300, canvas.parentElement.clientWidth);
  const cssH = L.top + L.bottom + Math.max(1, rows.length) * L.row;
  canvas.style.width = cssW + "px";
  canvas.style.height = cssH + "px";
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, cssW, cssH);
  const plotW = cssW - L.left - L.right;
  if (!fmax) fmax = Math.max(1, ...rows.filter(r => r.amp).map(r => r.df * (r.amp.length - 1)));
  let peak = 0;
  for (const r of rows) if (r.amp) for (const v of r.amp) if (v > peak) peak = v;
  const top = peak > 0 ? 20 * Math.log10(peak) : 0;
  const cols = Math.max(1, Math.round(plotW * dpr));
  const img = ctx.createImageData(cols, 1);
  rows.forEach((r, i) => {
    const y = L.top + i * L.row;
    if (!r.amp) {
      ctx.fillStyle = "#e6e9ed";
      ctx.fillRect(L.left, y, plotW, L.row - 1);
      return;
    }
    for (let c = 0; c < cols; c++) {
      // The largest bin under each pixel column, so narrow lines survive.
      const f0 = fmin + (fmax - fmin) * c / cols, f1 = fmin + (fmax - fmin) * (c + 1) / cols;
      const b0 = Math.floor(f0 / r.df), b1 = Math.max(b0, Math.ceil(f1 / r.df) - 1);
      let v = 0;
      for (let b = b0; b <= b1 && b < r.amp.length; b++) if (r.amp[b] > v) v = r.amp[b];
      const db = v > 0 ? 20 * Math.log10(v) : -Infinity;
      const [R, G, B] = b0 < r.amp.length ? colormap(1 - (top - db) / L.range) : [230, 233, 237];
      img.data[4 * c] = R; img.data[4 * c + 1] = G; img.data[4 * c + 2] = B; img.data[4 * c + 3] = 255;
    }
    // putImageData ignores the transform: place it in device pixels.
    for (let k = Math.round(y * dpr); k < Math.round((y + L.row - 1) * dpr); k++) ctx.putImageData(img, Math.round(L.left * dpr), k);
  });
  ctx.font = "12px system-ui, sans-serif";
  ctx.fillStyle = "#15202b";
  ctx.textBaseline = "middle";
  ctx.textAlign = "right";
  // Time labels: every row when they fit, else every few rows.
  const every = Math.max(1, Math.ceil(16 / L.row));
  rows.forEach((r, i) => {
    const y = L.top + i * L.row;
    if (r.id === selected) {
      ctx.strokeStyle = "#d62c36";
      ctx.lineWidth = 2;
      ctx.setLineDash([]);
      ctx.strokeRect(L.left - 1, y - 1, plotW + 2, L.row + 1);
    }
    if (i % every === 0 || r.id === selected) {
      ctx.fillStyle = r.id === selected ? "#a1121b" : "#15202b";
      ctx.fillText(shortAgo(r.ts, now), L.left - 6, y + L.row / 2);
    }
  });
  // Frequency axis.
  const axisY = L.top + rows.length * L.row + 4;
  ctx.strokeStyle = "#52606d";
  ctx.lineWidth = 1;
  ctx.beginPath();
  ctx.moveTo(L.left, axisY); ctx.lineTo(L.left + plotW, axisY);
  ctx.stroke();
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  ctx.fillStyle = "#15202b";
  const step = niceStep((fmax - fmin) / Math.max(2, Math.floor(plotW / 80)));
  for (let f = Math.ceil(fmin / step) * step; f <= fmax + 1e-9; f += step) {
    const x = L.left + (f - fmin) / (fmax - fmin) * plotW;
    ctx.beginPath(); ctx.moveTo(x, axisY); ctx.lineTo(x, axisY + 4); ctx.stroke();
    ctx.fillText(f >= 1000 ? (f / 1000) + "k" : String(f), x, axisY + 6);
  }
  ctx.fillText("Frequency (Hz)", L.left + plotW / 2, axisY + 22);
  return { fmin, fmax, top, plotW };
}

/** waterfallHit maps a point on the canvas (CSS px) to {row, hz} or null. */
export function waterfallHit(x, y, nrows, fmin, fmax, cssW) {
  const L = WATERFALL_LAYOUT;
  const plotW = cssW - L.left - L.right;
  const row = Math.floor((y - L.top) / L.row);
  if (row < 0 || row >= nrows || x < L.left || x > L.left + plotW) return null;
  return { row, hz: fmin + (x - L.left) / plotW * (fmax - fmin) };
}

function niceStep(raw) {
  const p = Math.pow(10, Math.floor(Math.log10(raw)));
  for (const m of [1, 2, 5, 10]) if (m * p >= raw) return m * p;
  return 10 * p;
}

function shortAgo(ts, now) {
  const s = Math.max(0, (now - Date.parse(ts)) / 1000);
  if (s < 90) return "now";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  if (s < 259200) return Math.round(s / 3600) + " h ago";
  return Math.round(s / 86400) + " d ago";
}
