// api.js: the JSON API client. Tokens live in localStorage; a 401 triggers one
// refresh (shared by all callers and, through Web Locks, by all tabs, because
// a spent refresh token used twice revokes the whole family), then a retry.
// When refreshing fails the user is sent to /login.

// Problems the page cannot show otherwise are counted on <html> (data-js-errors,
// data-csp-violations): the browser test asserts both stay absent, and a
// user's bug report can quote them from the inspector.
function countOn(attr) {
  const d = document.documentElement.dataset;
  d[attr] = String(Number(d[attr] || 0) + 1);
}
addEventListener("error", () => countOn("jsErrors"));
addEventListener("unhandledrejection", () => countOn("jsErrors"));
document.addEventListener("securitypolicyviolation", (e) => { countOn("cspViolations"); console.warn("CSP blocked", e.blockedURI, e.violatedDirective); });

const K_ACCESS = "vibemon.access";
const K_REFRESH = "vibemon.refresh";
const K_USER = "vibemon.user";

/** ApiError is a non-2xx answer: code and message come from the API body. */
export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || "Request failed (" + status + ").");
    this.status = status;
    this.code = code || "";
  }
}

export function accessToken() { return localStorage.getItem(K_ACCESS) || ""; }
function refreshToken() { return localStorage.getItem(K_REFRESH) || ""; }

/** saveSession stores the answer of /auth/login or /auth/refresh. */
export function saveSession(s) {
  localStorage.setItem(K_ACCESS, s.access_token);
  localStorage.setItem(K_REFRESH, s.refresh_token);
  if (s.user) localStorage.setItem(K_USER, JSON.stringify(s.user));
}

export function clearSession() {
  localStorage.removeItem(K_ACCESS);
  localStorage.removeItem(K_REFRESH);
  localStorage.removeItem(K_USER);
}

/** cachedUser is the user of the last login or refresh, or null. */
export function cachedUser() {
  try { return JSON.parse(localStorage.getItem(K_USER) || "null"); } catch { return null; }
}

/** toLogin leaves for the sign-in page, remembering where we were. */
export function toLogin() {
  const here = location.pathname + location.search;
  location.assign(here === "/" || here.startsWith("/login") ? "/login" : "/login?next=" + encodeURIComponent(here));
}

async function parse(res) {
  if (res.status === 204) return null;
  const text = await res.text();
  let body = null;
  if (text) { try { body = JSON.parse(text); } catch { body = null; } }
  if (!res.ok) {
    const e = body && body.error ? body.error : {};
    throw new ApiError(res.status, e.code, e.message || (res.status >= 500 ? "The server had a problem (" + res.status + "). Try again." : ""));
  }
  return body;
}

let refreshing = null;

async function doRefresh(staleAccess) {
  const run = async () => {
    // Another tab (or call) may have refreshed while we waited.
    if (accessToken() && accessToken() !== staleAccess) return true;
    const rt = refreshToken();
    if (!rt) return false;
    const res = await fetch("/api/v1/auth/refresh", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ refresh_token: rt }),
    });
    if (!res.ok) {
      if (res.status === 401 || res.status === 400) clearSession();
      return false;
    }
    saveSession(await res.json());
    return true;
  };
  if (navigator.locks) return navigator.locks.request("vibemon-refresh", run);
  return run();
}

/** refresh renews the access token once for all concurrent callers. */
export function refresh(staleAccess = accessToken()) {
  if (!refreshing) refreshing = doRefresh(staleAccess).catch(() => false).finally(() => { refreshing = null; });
  return refreshing;
}

// call sends a request to /api/v1 + path with the session's token,
// renewing it once on a 401, and returns the response.
async function call(path, { method = "GET", body, accept = "application/json" } = {}) {
  const send = () => {
    const headers = { "Accept": accept };
    const tok = accessToken();
    if (tok) headers["Authorization"] = "Bearer " + tok;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    return fetch("/api/v1" + path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  };
  const used = accessToken();
  if (!used && !refreshToken()) { toLogin(); throw new ApiError(401, "unauthorized", "Not signed in."); }
  let res = await send();
  if (res.status === 401) {
    if (await refresh(used)) res = await send();
    if (res.status === 401) { clearSession(); toLogin(); }
  }
  return res;
}

/** api calls /api/v1 + path and returns the parsed JSON body. */
export async function api(path, opts = {}) {
  return parse(await call(path, opts));
}

/** apiBlob calls /api/v1 + path for a file (accept: its type) and returns
 * it as a Blob; an error answer throws ApiError like api. */
export async function apiBlob(path, accept) {
  const res = await call(path, { accept });
  if (!res.ok) return parse(res);
  return res.blob();
}

/** login signs in and stores the session; throws ApiError with the API's message. */
export async function login(email, password) {
  const res = await fetch("/api/v1/auth/login", {
    method: "POST", headers: { "Content-Type": "application/json", "Accept": "application/json" },
    body: JSON.stringify({ email, password }),
  });
  const s = await parse(res);
  saveSession(s);
  return s.user;
}

/** logout revokes the refresh token family and forgets the session. */
export async function logout() {
  const rt = refreshToken();
  clearSession();
  if (rt) {
    try {
      await fetch("/api/v1/auth/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ refresh_token: rt }) });
    } catch { /* offline: the token expires on its own */ }
  }
  location.assign("/login");
}

let mePromise = null;
/** me returns the signed-in user (GET /me), fetched once per page. */
export function me() {
  if (!mePromise) {
    mePromise = api("/me").then(u => { localStorage.setItem(K_USER, JSON.stringify(u)); return u; });
    mePromise.catch(() => { mePromise = null; });
  }
  return mePromise;
}

const RANK = { viewer: 1, engineer: 2, admin: 3, owner: 4 };
/** can reports whether user's role is at least role. */
export function atLeast(user, role) { return !!user && (RANK[user.role] || 0) >= RANK[role]; }
