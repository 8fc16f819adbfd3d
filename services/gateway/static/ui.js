// transferline's pages: the API token (this tab's sessionStorage, sent as the Bearer header), the new-job form
// (POST /v1/jobs, errors shown beside the field they name), and the job page's live refresh (polls the job's JSON).
"use strict";

const TOKEN_KEY = "transferline.token";
const POLL_MS = 1000;

function token() {
  return sessionStorage.getItem(TOKEN_KEY) || "";
}

function authorised(headers = {}) {
  return token() ? { ...headers, Authorization: `Bearer ${token()}` } : headers;
}

function setupToken() {
  const form = document.getElementById("token");
  const input = form.querySelector("input");
  const state = form.querySelector("[data-token-state]");
  const show = () => { state.textContent = token() ? "set for this tab" : "not set"; };
  input.value = token();
  input.addEventListener("input", () => { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); show(); });
  form.addEventListener("submit", (event) => event.preventDefault());
  show();
}

async function send(url, options) {
  const response = await fetch(url, { ...options, headers: authorised(options.headers) });
  const body = await response.json().catch(() => ({ error: response.statusText, problems: [] }));
  return { ok: response.ok, status: response.status, body };
}

// ---- errors beside fields: an API problem's field (options.queries.0) goes to the longest matching data-error-for
function showProblems(form, body) {
  form.querySelectorAll("[data-error-for]").forEach((node) => { node.textContent = ""; });
  const slots = [...form.querySelectorAll("[data-error-for]")];
  const problems = body.problems && body.problems.length ? body.problems : [{ field: "", message: body.error }];
  for (const problem of problems) {
    const fits = slots.filter((slot) => {
      const name = slot.dataset.errorFor;
      return name === "" || problem.field === name || problem.field.startsWith(`${name}.`);
    });
    const slot = fits.sort((a, b) => b.dataset.errorFor.length - a.dataset.errorFor.length)[0];
    slot.textContent += `${problem.message} `;
  }
}

// ---- the new-job form
function fieldValue(input) {
  const kind = input.dataset.kind || "text";
  if (kind === "lines") return input.value.split("\n").map((line) => line.trim()).filter(Boolean);
  if (kind === "checks") return [...input.querySelectorAll("input:checked")].map((box) => box.value);
  if (kind === "multi") return [...input.selectedOptions].map((option) => option.value);
  if (kind === "bool") return input.checked;
  if (kind === "int") return input.value === "" ? undefined : Number(input.value);
  return input.value.trim() || undefined;
}

function place(body, path, value) {
  const parts = path.split(".");
  let node = body;
  for (const part of parts.slice(0, -1)) node = node[part];
  node[parts[parts.length - 1]] = value;
}

function jobBody(form) {
  const plan = JSON.parse(form.dataset.plan).map((stage) => ({ stage, options: {} }));
  const body = { stage: form.dataset.first, options: {}, plan };
  for (const input of form.querySelectorAll("[data-field]")) {
    const value = input.dataset.kind === "upload" ? undefined : fieldValue(input);
    const empty = value === undefined || (Array.isArray(value) && value.length === 0);
    if (!empty) place(body, input.dataset.field, value);
  }
  return body;
}

async function uploadList(form, job) {
  const file = form.querySelector("[data-kind=upload]").files[0];
  if (!file) return { ok: true };
  const data = new FormData();
  data.append("file", file);
  const answer = await send(form.dataset.listsUrl.replace("JOB", encodeURIComponent(job)), { method: "POST", body: data });
  if (answer.ok) answer.name = answer.body.name;
  return answer;
}

async function createJob(event) {
  event.preventDefault();
  const form = event.target;
  const body = jobBody(form);
  const list = await uploadList(form, body.job_id || "");
  if (!list.ok) {
    const problems = (list.body.problems || []).map((p) => ({ ...p, field: p.field === "file" ? "options.lists" : p.field }));
    return showProblems(form, { ...list.body, problems });
  }
  if (list.name) body.options.lists = [list.name];
  const answer = await send(form.dataset.jobsUrl, {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
  });
  if (!answer.ok) return showProblems(form, answer.body);
  window.location.assign(form.dataset.pageUrl.replace("JOB", encodeURIComponent(answer.body.job_id)));
}

// ---- the job page
function stageMeta(stage) {
  const parts = [stage.attempts ? `attempt ${stage.attempts}` : ""];
  if (stage.progress && stage.progress.total) parts.push(`${stage.progress.done} of ${stage.progress.total}`);
  if (stage.seconds !== null && stage.seconds !== undefined) parts.push(`${stage.seconds.toFixed(1)} s`);
  return parts.filter(Boolean).join(" · ");
}

function percent(stage) {
  if (stage.state === "succeeded") return 100;
  const progress = stage.progress;
  return progress && progress.total ? Math.min(progress.done / progress.total, 1) * 100 : 0;
}

function showCounters(list, counters) {
  list.replaceChildren(...Object.keys(counters).sort().map((name) => {
    const item = document.createElement("li");
    if (name.startsWith("failed") && counters[name] > 0) item.className = "failure";
    const label = document.createElement("span");
    const value = document.createElement("b");
    label.textContent = name;
    value.textContent = String(Number(counters[name].toPrecision(6)));  // as the server's %g writes it
    item.append(label, " ", value);
    return item;
  }));
}

function showStage(row, stage) {
  row.className = `stage ${stage.state}`;
  const badge = row.querySelector("[data-state]");
  badge.textContent = stage.state;
  badge.className = `badge ${stage.state}`;
  row.querySelector("[data-bar]").style.width = `${percent(stage)}%`;
  row.querySelector("[data-message]").textContent = stage.progress ? stage.progress.message : "";
  row.querySelector("[data-meta]").textContent = stageMeta(stage);
  row.querySelector("[data-error]").textContent = stage.error || "";
  showCounters(row.querySelector("[data-counters]"), stage.counters);
}

// The loss curve: one point per progress report seen while the page is open (the store keeps only the last one).
function lossCurve(section) {
  const points = new Map();
  const box = section.querySelector("[data-loss]");
  const line = box.querySelector("[data-loss-line]");
  const frame = box.querySelector(".frame");
  return (stages) => {
    for (const stage of stages) {
      const metrics = (stage.progress && stage.progress.metrics) || {};
      const name = "total_loss" in metrics ? "total_loss" : Object.keys(metrics).find((key) => key.endsWith("loss"));
      if (!name) continue;
      points.set(stage.progress.done, metrics[name]);
      box.querySelector("[data-loss-label]").textContent = name;
    }
    if (points.size === 0) return;
    box.hidden = false;
    const x0 = Number(frame.getAttribute("x")), y0 = Number(frame.getAttribute("y"));
    const w = Number(frame.getAttribute("width")), h = Number(frame.getAttribute("height"));
    const steps = [...points.keys()].sort((a, b) => a - b);
    const top = Math.max(...points.values()) || 1, last = steps[steps.length - 1] || 1;
    line.setAttribute("points", steps.map((s) => `${x0 + (s / last) * w},${y0 + h - (points.get(s) / top) * h}`).join(" "));
  };
}

function watchJob(section) {
  const ended = JSON.parse(section.dataset.ended);
  const drawLoss = lossCurve(section);
  let seen = null;
  const poll = async () => {
    let view;
    try {
      view = await (await fetch(section.dataset.viewUrl, { headers: authorised() })).json();
      await showView(view);
    } catch (error) {  // the gateway restarting, a worker busy: try again at the next tick
      return setTimeout(poll, POLL_MS);
    }
    if (!ended.includes(view.state)) setTimeout(poll, POLL_MS);
  };
  const showView = async (view) => {
    if (!view.stages) throw new Error(view.error);
    const badge = section.querySelector("[data-job-state]");
    badge.textContent = view.state;
    badge.className = `badge ${view.state}`;
    section.dataset.state = view.state;
    const cancelButton = section.querySelector("[data-cancel]");
    if (cancelButton) cancelButton.hidden = ended.includes(view.state);
    for (const stage of view.stages) {
      const row = section.querySelector(`[data-stage="${CSS.escape(stage.stage)}"]`);
      if (row) showStage(row, stage);
    }
    drawLoss(view.stages);
    const now = JSON.stringify([view.state, view.stages.map((s) => s.state)]);
    if (seen !== null && now !== seen) await refreshPanel(section);
    seen = now;
  };
  poll();
}

async function refreshPanel(section) {
  const response = await fetch(section.dataset.panelUrl, { headers: authorised() });
  if (!response.ok) throw new Error(response.statusText);
  document.getElementById("panel").innerHTML = await response.text();
}

async function uploadLabels(form) {
  const data = new FormData(form);
  const answer = await send(form.dataset.labelsUrl, { method: "POST", body: data });
  if (!answer.ok) return showProblems(form, answer.body);
  // said outside the panel: the panel is drawn again as the job moves on, without the form
  document.querySelector("[data-notice]").textContent = `labels uploaded: the job continues at ${answer.body.continued_at}`;
}

async function cancel(section) {
  const answer = await send(section.dataset.cancelUrl, { method: "POST" });
  section.querySelector("[data-notice]").textContent = answer.ok ? "cancelled" : answer.body.error;
}

document.addEventListener("DOMContentLoaded", () => {
  setupToken();
  const form = document.getElementById("new-job");
  if (form) form.addEventListener("submit", createJob);
  const section = document.getElementById("job");
  if (!section) return;
  watchJob(section);
  document.addEventListener("submit", (event) => {
    if (event.target.matches("form.labels")) { event.preventDefault(); uploadLabels(event.target); }
  });
  const button = section.querySelector("[data-cancel]");
  if (button) button.addEventListener("click", () => cancel(section));
});
