"use strict";
// The template editor: list, edit with a live preview on every sample, save with a note,
// history with diffs and one-click restore. Talks only to /api/templates (admin token).

// TEXTS (the words of this page in each language) comes from the catalogues: see
// locales/*/console.ftl, served as /console/templates-texts.js.
let lang = (navigator.language || "ru").startsWith("ru") ? "ru" : "en";
const t = (key, args = {}) => (TEXTS[lang][key] || key).replace(/\{(\w+)\}/g, (_, k) => args[k] ?? "");
const $ = (id) => document.getElementById(id);
const enc = encodeURIComponent;
let current = null; // { locale, name, shown }
let timer = null;
let tries = 0;

function applyLanguage() {
  document.documentElement.lang = lang;
  document.querySelectorAll("[data-t]").forEach((el) => { el.textContent = t(el.dataset.t); });
  $("language").textContent = lang === "ru" ? "English" : "Русский";
  $("language").lang = lang === "ru" ? "en" : "ru";
  $("template-preview").setAttribute("aria-label", t("preview"));
  $("history").setAttribute("aria-label", t("history"));
  if (current) show(current.shown);
}

async function call(method, path, body) {
  const headers = { authorization: "Bearer " + $("admin-token").value.trim(), "accept-language": lang };
  if (body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  let json = {};
  try { json = await res.json(); } catch (_) { /* no body */ }
  return { ok: res.ok, status: res.status, json };
}

const when = (ms) => new Date(ms).toLocaleString(lang === "ru" ? "ru-RU" : "en-GB");

function origin(serving) {
  return serving.kind === "file" ? t("file") : `${t("console_on")} ${when(serving.saved_at)}`;
}

async function openList() {
  const res = await call("GET", "/api/templates");
  $("access-problem").hidden = res.ok;
  if (!res.ok) { $("access-problem").textContent = res.json.ErrorMessage || res.status; return; }
  const body = $("list").querySelector("tbody");
  body.replaceChildren();
  for (const item of res.json.templates) {
    const row = document.createElement("tr");
    const cells = [item.locale, item.name, origin(item.serving) + (item.problem ? " ⚠" : "")];
    for (const text of cells) { const td = document.createElement("td"); td.textContent = text; row.append(td); }
    const td = document.createElement("td");
    const button = document.createElement("button");
    button.type = "button"; button.textContent = t("edit");
    button.setAttribute("aria-label", `${t("edit")} ${item.locale}/${item.name}`);
    button.addEventListener("click", () => edit(item.locale, item.name));
    td.append(button); row.append(td); body.append(row);
  }
  $("list").hidden = false;
}

async function edit(locale, name) {
  const res = await call("GET", `/api/templates/${enc(locale)}/${enc(name)}`);
  if (!res.ok) { $("access-problem").hidden = false; $("access-problem").textContent = res.json.ErrorMessage; return; }
  current = { locale, name, shown: res.json };
  $("source").value = res.json.source;
  $("note").value = "";
  $("save-result").textContent = "";
  show(res.json);
  numberLines();
  tryNow();
}

function show(shown) {
  for (const id of ["edit", "template-preview", "history"]) $(id).hidden = false;
  $("edit-title").textContent = `${shown.locale}/${shown.name}`;
  $("serving").textContent = shown.serving.kind === "file" ? t("serving_file")
    : t("serving_console", { v: shown.serving.version, d: when(shown.serving.saved_at) });
  $("served-problem").hidden = !shown.problem;
  $("served-problem").textContent = shown.problem || "";
  $("variables").textContent = shown.variables.join(", ");
  $("use-file").hidden = shown.serving.kind === "file" || shown.file === null;
  $("delete").hidden = shown.serving.kind === "file" || shown.file !== null;
  const list = $("versions");
  list.replaceChildren();
  $("history-empty").hidden = shown.history.length > 0;
  shown.history.forEach((v, i) => {
    const li = document.createElement("li");
    const label = document.createElement("span");
    label.textContent = `${when(v.saved_at)} — ${v.note}` + (v.source === null ? ` (${t("withdrawn")})` : "");
    li.append(label);
    const previous = shown.history.slice(i + 1).find((p) => p.source !== null);
    const buttons = [[t("restore"), () => restore(v.id)]];
    if (v.source !== null && previous) buttons.push([t("vs_previous"), () => diff(previous.source, v.source)]);
    if (v.source !== null && shown.file !== null) buttons.push([t("vs_file"), () => diff(shown.file, v.source)]);
    for (const [text, action] of buttons) {
      const b = document.createElement("button");
      b.type = "button"; b.textContent = text; b.addEventListener("click", action);
      b.setAttribute("aria-label", `${text}: ${v.note}`);
      li.append(" ", b);
    }
    list.append(li);
  });
}

function numberLines() {
  const count = $("source").value.split("\n").length;
  $("gutter").textContent = Array.from({ length: count }, (_, i) => i + 1).join("\n");
  $("gutter").scrollTop = $("source").scrollTop;
}

function scheduleTry() {
  numberLines();
  clearTimeout(timer);
  timer = setTimeout(tryNow, 250);
}

async function tryNow() {
  if (!current) return;
  const mine = ++tries;
  const body = { source: $("source").value };
  const event = $("event").value.trim();
  if (event) { try { body.event = JSON.parse(event); } catch (_) { /* shown as is below */ } }
  const res = await call("POST", `/api/templates/${enc(current.locale)}/${enc(current.name)}/try`, body);
  if (mine !== tries) return; // a newer try is on its way
  const errors = $("errors");
  errors.replaceChildren();
  for (const e of res.json.errors || []) {
    const li = document.createElement("li");
    li.textContent = `${t("line")} ${e.line}, ${t("column")} ${e.column}: ${e.message}` + (e.sample ? ` (${t("sample")} ${e.sample})` : "");
    errors.append(li);
  }
  if (!res.ok) { const li = document.createElement("li"); li.textContent = res.json.ErrorMessage; errors.append(li); }
  $("save").disabled = !res.json.ok;
  const previews = $("previews");
  if (!res.json.ok) return; // the last good preview stays, the errors say why it does not follow
  previews.replaceChildren();
  for (const p of res.json.previews) {
    const h = document.createElement("h3"); h.textContent = p.sample;
    const bubble = document.createElement("div");
    bubble.className = p.error ? "problem" : "bubble";
    bubble.textContent = p.text ?? p.error;
    previews.append(h, bubble);
  }
}

async function save(name, source, note) {
  const res = await call("PUT", `/api/templates/${enc(current.locale)}/${enc(name)}`, { source, note });
  $("save-result").className = res.ok ? "" : "problem";
  $("save-result").textContent = res.ok ? t("saved", { v: res.json.version }) : res.json.ErrorMessage;
  if (res.ok) { await openList(); await edit(current.locale, name); $("save-result").textContent = t("saved", { v: res.json.version }); }
}

async function restore(version) {
  const res = await call("POST", `/api/templates/${enc(current.locale)}/${enc(current.name)}/restore`, { version });
  if (!res.ok) { $("save-result").className = "problem"; $("save-result").textContent = res.json.ErrorMessage; return; }
  await openList();
  await edit(current.locale, current.name);
}

async function withdraw() {
  const res = await call("DELETE", `/api/templates/${enc(current.locale)}/${enc(current.name)}`);
  if (!res.ok) { $("save-result").className = "problem"; $("save-result").textContent = res.json.ErrorMessage; return; }
  await openList();
  if (current.shown.file !== null) await edit(current.locale, current.name);
  else { current = null; for (const id of ["edit", "template-preview", "history"]) $(id).hidden = true; }
}

/// A line diff (longest common subsequence): "- " removed, "+ " added, "  " kept.
function diff(before, after) {
  const a = before.split("\n"), b = after.split("\n");
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) for (let j = m - 1; j >= 0; j--)
    lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
  const out = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { out.push("  " + a[i]); i++; j++; }
    else if (j < m && (i >= n || lcs[i][j + 1] >= lcs[i + 1][j])) { out.push("+ " + b[j]); j++; }
    else { out.push("- " + a[i]); i++; }
  }
  $("diff").textContent = out.join("\n");
  $("diff").hidden = false;
}

document.addEventListener("DOMContentLoaded", () => {
  applyLanguage();
  $("language").addEventListener("click", () => { lang = lang === "ru" ? "en" : "ru"; applyLanguage(); });
  $("open").addEventListener("click", openList);
  $("source").addEventListener("input", scheduleTry);
  $("source").addEventListener("scroll", () => { $("gutter").scrollTop = $("source").scrollTop; });
  $("event").addEventListener("input", scheduleTry);
  $("save").addEventListener("click", () => {
    const note = $("note").value.trim();
    if (!note) { $("save-result").className = "problem"; $("save-result").textContent = t("need_note"); return; }
    save(current.name, $("source").value, note);
  });
  $("use-file").addEventListener("click", withdraw);
  $("delete").addEventListener("click", withdraw);
  $("copy").addEventListener("click", () => {
    const name = $("copy-name").value.trim();
    save(name, $("source").value, t("note_copy", { n: current.name }));
  });
});
