"use strict";
// The login page: posts JSON (a cross-site form cannot), then goes where the user was heading.
(function () {
  const I18N = window.TX_I18N;
  let lang = localStorage.getItem("txmon.lang") === "en" ? "en" : "vi";
  let errorKey = null;
  const t = (key) => (I18N[lang] || {})[key] || I18N.en[key] || key;

  function paint() {
    document.documentElement.lang = lang;
    document.title = t("title");
    for (const node of document.querySelectorAll("[data-t]")) node.textContent = t(node.dataset.t);
    for (const l of ["vi", "en"]) document.getElementById("lang-" + l).classList.toggle("on", l === lang);
    const box = document.getElementById("login-error");
    box.replaceChildren();
    if (errorKey) {
      const p = document.createElement("p");
      p.className = "msg err";
      p.textContent = t(errorKey);
      box.append(p);
    }
  }

  function sameOrigin(path) {
    // The server already answered with a safe path (alerts.console.auth.safe_next); parse it
    // once more here and keep it only if it resolves to this very origin.
    try {
      const url = new URL(path, location.origin);
      return url.origin === location.origin ? url.pathname + url.search + url.hash : "/";
    } catch (e) {
      return "/";
    }
  }

  async function submit(e) {
    e.preventDefault();
    const body = {
      user: document.getElementById("user").value.trim(),
      password: document.getElementById("password").value,
      code: document.getElementById("code").value.trim(),
      next: new URLSearchParams(location.search).get("next") || "/",
    };
    const r = await fetch("/api/login", { method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", Accept: "application/json" }, body: JSON.stringify(body) });
    if (r.ok) {
      const me = await r.json();
      const next = sameOrigin(me.next || "/");
      location.href = me.role === "police" && next === "/" ? "/police" : next;
      return;
    }
    let error = "";
    try { error = (await r.json()).error || ""; } catch (err) { /* not JSON */ }
    errorKey = r.status === 429 ? "locked_out" : error === "totp_enrolment_required" ? "totp_enrolment_required" : "bad_credentials";
    paint();
  }

  window.addEventListener("DOMContentLoaded", () => {
    for (const l of ["vi", "en"]) {
      document.getElementById("lang-" + l).addEventListener("click", () => {
        lang = l;
        localStorage.setItem("txmon.lang", l);
        paint();
      });
    }
    document.getElementById("login").addEventListener("submit", submit);
    paint();
  });
})();
