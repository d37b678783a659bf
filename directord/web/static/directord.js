// directord's pages: small progressive enhancements, no framework. Without JS every page works;
// with it the jobs table and a job's badge update themselves, and a period's calendar previews
// while its ranges are typed.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

function applyJob(job) {
  const label = job.state_label;
  document.querySelectorAll('[data-job="' + CSS.escape(job.name) + '"]').forEach((el) => {
    el.className = el.className.replace(/\bstate-\S+/g, "").trim() + " state-" + job.state;
    const labelEl = el.matches(".badge") ? el : el.querySelector(".label");
    if (labelEl) labelEl.textContent = label;
    const last = el.querySelector(".last");
    if (last) last.textContent = job.last_text;
    const next = el.querySelector(".next");
    if (next) next.textContent = job.next_due_text;
  });
}

async function refreshJobs(url) {
  try {
    const response = await fetch(url, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (!response.ok) return;
    const body = await response.json();
    (body.jobs || []).forEach(applyJob);
  } catch (err) {
    // The daemon restarting (memory rule, reload) is normal: try again on the next tick.
  }
}

function startLive() {
  const live = document.querySelector("[data-live]");
  const badge = document.querySelector(".badge[data-job]");
  let url = null;
  if (live) url = live.dataset.live;
  else if (badge) url = "/api/jobs?name=" + encodeURIComponent(badge.dataset.job);
  if (!url) return;
  setInterval(() => refreshJobs(url), 1000);
}

function parseRanges(text) {
  const ranges = {};
  text.split("\n").forEach((line) => {
    const at = line.indexOf("=");
    if (line.trim() === "") return;
    if (at < 0) ranges[line.trim()] = "";
    else ranges[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return ranges;
}

function startPreview() {
  const form = document.querySelector("form[data-preview]");
  if (!form) return;
  const error = form.querySelector(".error");
  let timer = null;
  const update = async () => {
    const body = {
      timezone: form.elements.timezone.value,
      ranges: parseRanges(form.elements.ranges.value),
      calendars: true,
    };
    const response = await fetch(form.dataset.preview, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrfToken() },
      body: JSON.stringify(body),
    });
    if (!response.ok) return;
    const data = await response.json();
    if (data.errors) {
      error.textContent = data.errors.map((e) => e.field + ": " + e.message).join("; ");
      return;
    }
    error.textContent = "";
    document.getElementById("week").innerHTML = data.week_svg;
    document.getElementById("month").innerHTML = data.month_svg;
  };
  form.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(update, 250);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  startLive();
  startPreview();
});
