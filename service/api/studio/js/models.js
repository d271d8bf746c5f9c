// The registry as a gallery, and the model pickers of the other tabs.
import { blobUrl, describe, get, post } from "./api.js";
import { $, $$, errorBox, h, replace } from "./dom.js";
import { figureTables } from "./figures.js";

export let models = []; // the last GET /models answer's list

function signature(manifest) {
  const s = manifest.signature || {};
  const parts = [
    s.image_size && `${s.image_size}px`, s.channels && `${s.channels} ch`,
    s.num_classes ? `${s.num_classes} classes` : null, s.scale && `×${s.scale}`,
    s.directions && `directions ${Object.keys(s.directions).join(", ")}`,
  ];
  return parts.filter(Boolean).join(" · ");
}

async function sample(card, manifest) {
  if (manifest.task !== "generate") return;
  const slot = $(".sample", card);
  try {
    const job = await post("/generate", { json: { model: `${manifest.name}:${manifest.version}`, n: 8, seed: 0 }, wait: 30 });
    const urls = await Promise.all(job.outputs.map((o) => blobUrl(o.url)));
    replace(slot, urls.map((src) => h("img", { src, alt: "sample" })));
  } catch (error) {
    replace(slot, errorBox(describe(error)));
  }
}

const shorten = (text, most = 48) => (text.length > most ? `${text.slice(0, most - 1)}…` : text);

function card(model) {
  const manifest = model.latest;
  const aliases = Object.entries(model.aliases).map(([alias, v]) => `${alias} → ${v}`).join(", ");
  const element = h("article", { class: "card", "data-model": model.name },
    h("h3", {}, model.name, h("span", { class: `badge ${manifest.task}` }, manifest.task)),
    h("div", { class: "sample" }),
    h("p", {}, h("b", {}, manifest.architecture), " ", signature(manifest)),
    h("p", { class: "hint" }, `versions ${model.versions.join(", ")}; ${aliases}`),
    h("p", { class: "hint", title: manifest.provenance?.dataset || "" }, `trained on ${shorten(manifest.provenance?.dataset || "?")}` +
      (manifest.provenance?.steps ? `, ${manifest.provenance.steps} steps` : "")),
    h("div", { class: "quality" }, figureTables(manifest)));
  sample(element, manifest);
  return element;
}

/** Fill every <select data-task=…> with the models of that task, keeping the current choice. */
function fillPickers() {
  for (const select of $$("select[data-task]")) {
    const current = select.value;
    replace(select, models.filter((m) => m.latest.task === select.dataset.task)
      .flatMap((m) => [h("option", { value: m.name }, `${m.name} (latest: v${m.aliases.latest ?? m.versions.at(-1)})`),
        ...m.versions.map((v) => h("option", { value: `${m.name}:${v}` }, `${m.name}:${v}`))]));
    if (current && [...select.options].some((o) => o.value === current)) select.value = current;
    select.dispatchEvent(new Event("change"));
  }
}

export async function loadModels() {
  const gallery = $("#model-gallery");
  try {
    models = (await get("/models")).models;
  } catch (error) {
    replace(gallery, errorBox(describe(error)));
    return;
  }
  replace(gallery, models.map(card));
  fillPickers();
}

const manifests = new Map();

/** The manifest behind a picker's value (`name` or `name:version`). */
export async function manifestFor(ref) {
  const [name, version] = ref.split(":");
  const model = models.find((m) => m.name === name);
  if (!model) return null;
  if (!version || Number(version) === model.latest.version) return model.latest;
  if (!manifests.has(ref)) manifests.set(ref, await get(`/models/${name}/versions/${version}`));
  return manifests.get(ref);
}
