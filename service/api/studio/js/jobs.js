// Jobs this page started (kept in localStorage), merged with GET /jobs where the API has it.
import { blobUrl, get, post, describe } from "./api.js";
import { $, h, replace } from "./dom.js";

const STORAGE = "ganforge.jobs";
const KEEP = 100;
const listeners = [];

function stored() {
  try {
    return JSON.parse(localStorage.getItem(STORAGE)) || [];
  } catch {
    return [];
  }
}

/** Record a job this page created (or its newer state) and redraw the table. */
export function remember(job) {
  const jobs = stored().filter((j) => j.id !== job.id);
  jobs.unshift(summary(job));
  localStorage.setItem(STORAGE, JSON.stringify(jobs.slice(0, KEEP)));
  render();
}

const summary = (job) => ({
  id: job.id, kind: job.kind, status: job.status, created_at: job.created_at,
  model: job.model ? `${job.model.name}:${job.model.version}` : job.params?.model_name || "",
  outputs: (job.outputs || []).map((o) => ({ name: o.name, url: o.url })),
});

/** Someone wants to watch a training job (the Train tab registers here). */
export const onWatch = (listener) => listeners.push(listener);

async function download(output) {
  const link = h("a", { href: await blobUrl(output.url), download: output.name });
  link.click();
}

function row(job) {
  const outputs = job.outputs.slice(-4).map((o) => h("a", { href: "#jobs", onclick: (e) => (e.preventDefault(), download(o)) }, o.name));
  const live = job.status === "queued" || job.status === "running";
  return h("tr", { "data-job": job.id },
    h("td", {}, h("code", { title: job.id }, job.id.slice(0, 8))),
    h("td", {}, job.kind),
    h("td", {}, job.model),
    h("td", {}, h("span", { class: `status ${job.status}` }, job.status)),
    h("td", {}, new Date(job.created_at).toLocaleString()),
    h("td", { class: "outputs" }, outputs, job.outputs.length > 4 ? h("small", {}, ` +${job.outputs.length - 4}`) : null),
    h("td", {},
      job.kind === "train" ? h("button", { type: "button", onclick: () => listeners.forEach((l) => l(job.id)) }, "Watch") : null,
      live ? h("button", { type: "button", onclick: () => cancel(job.id) }, "Cancel") : null));
}

async function cancel(id) {
  try {
    remember(await post(`/jobs/${id}/cancel`));
  } catch (error) {
    alert(describe(error));
  }
}

export function render() {
  replace($("#job-rows"), stored().map(row));
}

/** The newest state of each job: GET /jobs answers for the recent ones (and adds jobs this
 * browser did not start but the key did); the rest are asked one by one. */
export async function refresh() {
  const known = stored();
  const listed = new Map();
  try {
    for (const job of (await get("/jobs?limit=100")).jobs || []) listed.set(job.id, summary(job));
  } catch {
    // no listing on this server: the page's own list is the list
  }
  const mine = await Promise.all(known.filter((j) => !listed.has(j.id))
    .map((j) => get(`/jobs/${j.id}`).then(summary).catch(() => ({ ...j, status: "expired" }))));
  const all = [...listed.values(), ...mine]
    .sort((a, b) => String(b.created_at).localeCompare(String(a.created_at)));
  localStorage.setItem(STORAGE, JSON.stringify(all.slice(0, KEEP)));
  render();
}
