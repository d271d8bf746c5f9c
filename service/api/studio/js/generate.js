// Generate: model, seed (and a shuffle), class, truncation (ψ for style models), n; the grid when
// the job ends; a latent walk between two seeds (in w for style models, in z for the others).
import { blobUrl, describe, finished, post } from "./api.js";
import { $, $$, busy, errorBox, h, replace } from "./dom.js";
import { remember } from "./jobs.js";
import { manifestFor } from "./models.js";

let style = false; // the chosen model is style-based (StyleGAN2): ψ and walks in w

async function showModelOptions(form) {
  const manifest = await manifestFor(form.model.value).catch(() => null);
  const classes = manifest?.signature?.num_classes || 0;
  const names = manifest?.signature?.class_names || [];
  replace(form.label, h("option", { value: "" }, classes ? "random" : "unconditional"),
    Array.from({ length: classes }, (_, i) => h("option", { value: i }, names[i] ?? String(i))));
  form.label.disabled = !classes;
  style = Boolean(manifest?.signature?.style);
  $$("[data-style-only]", form).forEach((field) => (field.hidden = !style));
}

function requestFrom(form) {
  const body = { model: form.model.value, n: Number(form.n.value) || 1 };
  if (form.seed.value !== "") body.seed = Number(form.seed.value);
  if (form.label.value !== "") body.labels = [Number(form.label.value)];
  if (form.truncation.value !== "") body.truncation = Number(form.truncation.value);
  if (style && form.truncation_psi.value !== "") body.truncation_psi = Number(form.truncation_psi.value);
  return body;
}

function walkFrom(form) {
  const body = requestFrom(form);
  body.n = 1;
  body.seed ??= 0;
  body.interpolate = { to_seed: Number(form.to_seed.value) || 0, frames: Number(form.frames.value) || 8, space: style ? "w" : "z" };
  return body;
}

async function picture(job, output) {
  const src = await blobUrl(output.url);
  return h("a", { href: src, download: `${job.params.seed}-${output.name}`, title: `download ${output.name}` },
    h("img", { src, alt: output.name, class: output.name.startsWith("walk.") ? "animation" : null }));
}

async function show(output, job) {
  if (job.status !== "succeeded") {
    replace(output, errorBox(`${job.status}: ${job.error?.detail || ""}`));
    return;
  }
  const walk = job.params.interpolate;
  const frames = job.outputs.filter((o) => !o.name.startsWith("walk."));
  const animation = job.outputs.find((o) => o.name.startsWith("walk."));
  const grid = h("div", { class: "grid", "data-testid": walk ? "walk" : "generated" },
    await Promise.all(frames.map((o) => picture(job, o))));
  const timing = job.metrics?.inference_s !== undefined ? `, inference ${(job.metrics.inference_s * 1000).toFixed(1)} ms` : "";
  const what = walk ? `walk in ${walk.space} from seed ${job.params.seed} to ${walk.to_seed}` : `seed ${job.params.seed}`;
  replace(output,
    h("p", { class: "hint" }, `${job.model.name}:${job.model.version}, ${what}` + (job.cached ? ", from the result cache" : "") + timing),
    animation ? h("div", { class: "walk-result" }, await picture(job, animation), grid) : grid);
}

async function run(form, output, body) {
  replace(output, h("p", { class: "hint" }, "generating…"));
  try {
    const job = await post("/generate", { json: body, wait: 30 });
    remember(job);
    const done = await finished(job);
    remember(done);
    await show(output, done);
  } catch (error) {
    replace(output, errorBox(describe(error)));
  }
}

export function setUpGenerate() {
  const form = $("#generate-form");
  const output = $("#generate-output");
  form.model.addEventListener("change", () => showModelOptions(form));
  $("#shuffle-seed").addEventListener("click", () => {
    form.seed.value = crypto.getRandomValues(new Uint32Array(1))[0];
  });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, () => run(form, output, requestFrom(form)));
  });
  $("#walk").addEventListener("click", () => busy(form, () => run(form, output, walkFrom(form))));
}
