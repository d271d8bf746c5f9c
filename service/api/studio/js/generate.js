// Generate: model, seed (and a shuffle), class, truncation, n; the grid when the job ends.
import { blobUrl, describe, finished, post } from "./api.js";
import { $, busy, errorBox, h, replace } from "./dom.js";
import { remember } from "./jobs.js";
import { manifestFor } from "./models.js";

async function showClasses(form) {
  const manifest = await manifestFor(form.model.value).catch(() => null);
  const classes = manifest?.signature?.num_classes || 0;
  const names = manifest?.signature?.class_names || [];
  replace(form.label, h("option", { value: "" }, classes ? "random" : "unconditional"),
    Array.from({ length: classes }, (_, i) => h("option", { value: i }, names[i] ?? String(i))));
  form.label.disabled = !classes;
}

function requestFrom(form) {
  const body = { model: form.model.value, n: Number(form.n.value) || 1 };
  if (form.seed.value !== "") body.seed = Number(form.seed.value);
  if (form.label.value !== "") body.labels = [Number(form.label.value)];
  if (form.truncation.value !== "") body.truncation = Number(form.truncation.value);
  return body;
}

async function show(output, job) {
  if (job.status !== "succeeded") {
    replace(output, errorBox(`${job.status}: ${job.error?.detail || ""}`));
    return;
  }
  const images = await Promise.all(job.outputs.map(async (o) => {
    const src = await blobUrl(o.url);
    return h("a", { href: src, download: `${job.params.seed}-${o.name}`, title: `download ${o.name}` },
      h("img", { src, alt: o.name }));
  }));
  const timing = job.metrics?.inference_s !== undefined ? `, inference ${(job.metrics.inference_s * 1000).toFixed(1)} ms` : "";
  replace(output,
    h("p", { class: "hint" }, `${job.model.name}:${job.model.version}, seed ${job.params.seed}` +
      (job.cached ? ", from the result cache" : "") + timing),
    h("div", { class: "grid", "data-testid": "generated" }, images));
}

export function setUpGenerate() {
  const form = $("#generate-form");
  const output = $("#generate-output");
  form.model.addEventListener("change", () => showClasses(form));
  $("#shuffle-seed").addEventListener("click", () => {
    form.seed.value = crypto.getRandomValues(new Uint32Array(1))[0];
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      replace(output, h("p", { class: "hint" }, "generating…"));
      try {
        const job = await post("/generate", { json: requestFrom(form), wait: 30 });
        remember(job);
        const done = await finished(job);
        remember(done);
        await show(output, done);
      } catch (error) {
        replace(output, errorBox(describe(error)));
      }
    });
  });
}
