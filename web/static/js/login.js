// login.js: the sign-in form. Shows the API's own error message.

import { login, accessToken } from "./api.js";

const form = document.getElementById("login-form");
const err = document.getElementById("login-error");
const submit = document.getElementById("login-submit");

function next() {
  const n = new URLSearchParams(location.search).get("next") || "/";
  // Only same-site paths: never follow "//evil" or "https://...".
  return n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/\\") ? n : "/";
}

form.addEventListener("submit", async (ev) => {
  ev.preventDefault();
  err.hidden = true;
  const email = form.email.value.trim();
  const password = form.password.value;
  if (!email || !password) {
    err.textContent = "Enter your e-mail and password.";
    err.hidden = false;
    return;
  }
  submit.disabled = true;
  submit.textContent = "Signing in…";
  try {
    await login(email, password);
    location.assign(next());
  } catch (e) {
    err.textContent = e.message || "Sign-in failed.";
    err.hidden = false;
    submit.disabled = false;
    submit.textContent = "Sign in";
    form.password.select();
  }
});

if (accessToken() && new URLSearchParams(location.search).has("next") === false && document.referrer === "") {
  // Already signed in: a bookmark of /login goes straight to the fleet.
  location.replace("/");
}
