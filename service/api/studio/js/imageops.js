// Translate and upscale: drop an image, choose a model and options, see before/after, download.
import { blobUrl, describe, finished, post } from "./api.js";
import { $, $$, busy, downloadLink, errorBox, h, replace } from "./dom.js";
import { remember } from "./jobs.js";
import { manifestFor } from "./models.js";
import { beforeAfter } from "./slider.js";

function choose(form, file) {
  if (!file || !file.type.startsWith("image/")) return;
  form.chosen = { file, url: URL.createObjectURL(file) };
  const zone = $(".dropzone", form);
  replace(zone, h("img", { src: form.chosen.url, alt: file.name }), h("span", {}, `${file.name} — drop another to replace it`));
}

function acceptDrops(form) {
  const zone = $(".dropzone", form);
  const input = $("input[type=file]", form);
  input.addEventListener("change", () => choose(form, input.files[0]));
  zone.addEventListener("click", (event) => event.target === zone && input.click());
  zone.addEventListener("keydown", (event) => (event.key === "Enter" || event.key === " ") && input.click());
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.classList.add("over");
  });
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    choose(form, event.dataTransfer.files[0]);
  });
}

/** Offer only the directions the chosen translation model has. */
async function showDirections(form) {
  if (!form.direction) return;
  const manifest = await manifestFor(form.model.value).catch(() => null);
  const directions = Object.keys(manifest?.signature?.directions || { a2b: null });
  replace(form.direction, directions.map((d) => h("option", { value: d }, d)));
}

function formData(form) {
  const data = new FormData();
  data.append("image", form.chosen.file, form.chosen.file.name);
  for (const field of $$("select, input:not([type=file])", form)) {
    if (field.name && field.value !== "") data.append(field.name, field.value);
  }
  return data;
}

const sizeOf = (url) => new Promise((resolve) => {
  const image = new Image();
  image.onload = () => resolve({ width: image.naturalWidth, height: image.naturalHeight });
  image.onerror = () => resolve({});
  image.src = url;
});

async function show(output, form, job) {
  if (job.status !== "succeeded") {
    replace(output, errorBox(`${job.status}: ${job.error?.detail || ""}`));
    return;
  }
  const result = job.outputs[0];
  const afterUrl = await blobUrl(result.url);
  const [before, after] = await Promise.all([sizeOf(form.chosen.url), sizeOf(afterUrl)]);
  const base = form.chosen.file.name.replace(/\.[^.]*$/, "");
  replace(output,
    h("p", { class: "hint" }, `${job.model.name}:${job.model.version}: ${before.width}×${before.height} → ` +
      `${after.width}×${after.height}` + (job.cached ? ", from the result cache" : "")),
    // a translator's input far from its training inputs (metrics.warnings): said, not hidden
    (job.metrics?.warnings || []).map((text) => h("p", { class: "warning", role: "status" }, `⚠ ${text}`)),
    beforeAfter(form.chosen.url, afterUrl, after),
    downloadLink(afterUrl, `${base}-${job.kind}.${result.name.split(".").pop()}`));
}

function setUpForm(form) {
  const output = form.nextElementSibling;
  acceptDrops(form);
  form.model.addEventListener("change", () => showDirections(form));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!form.chosen) {
      replace(output, errorBox("Choose or drop an image first."));
      return;
    }
    busy(form, async () => {
      replace(output, h("p", { class: "hint" }, "working…"));
      try {
        const job = await post(form.dataset.endpoint, { form: formData(form), wait: 60 });
        remember(job);
        const done = await finished(job);
        remember(done);
        await show(output, form, done);
      } catch (error) {
        replace(output, errorBox(describe(error)));
      }
    });
  });
}

export function setUpImageOps() {
  $$("form.imageop").forEach(setUpForm);
}
