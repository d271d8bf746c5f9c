// Datasets: upload an archive with its layout; see its preview, or each file that failed.
import { blobUrl, describe, get, request } from "./api.js";
import { $, busy, errorBox, h, replace } from "./dom.js";

export let datasets = [];
const listeners = [];
export const onDatasets = (listener) => listeners.push(listener);

function facts(record) {
  const groups = record.classes.length ? record.classes : record.domains;
  const size = record.sizes[0] ? `${record.sizes[0].width}×${record.sizes[0].height}` : "";
  return [
    `${record.layout}, ${record.num_images} images`, size && `mostly ${size}`,
    groups.length ? `${groups.length} ${record.classes.length ? "classes" : "domains"}: ` +
      groups.slice(0, 12).map((g) => g.name).join(", ") + (groups.length > 12 ? ", …" : "") : null,
  ].filter(Boolean).join(" · ");
}

function card(record) {
  const image = h("img", { alt: `preview of ${record.id}` });
  blobUrl(record.preview_url).then((src) => (image.src = src)).catch(() => image.remove());
  return h("article", { class: "card", "data-dataset": record.id },
    h("h3", {}, record.name || record.id, record.builtin ? h("span", { class: "badge" }, "built-in") : h("code", {}, record.id)),
    image, h("p", {}, facts(record)), record.description ? h("p", { class: "hint" }, record.description) : null);
}

/** A refused upload: the problem's detail and one line per failing file. */
function rejection(error) {
  const errors = error.problem?.errors || [];
  if (!errors.length) return errorBox(describe(error));
  return h("div", { class: "error", role: "alert" },
    h("p", {}, error.message),
    h("ul", { class: "file-errors" }, errors.map((e) => h("li", {}, h("code", {}, e.field.replace(/^file:/, "")), ` ${e.message}`))));
}

export async function loadDatasets() {
  try {
    datasets = (await get("/datasets")).datasets;
  } catch (error) {
    replace($("#dataset-list"), errorBox(describe(error)));
    return;
  }
  replace($("#dataset-list"), datasets.map(card));
  listeners.forEach((listener) => listener(datasets));
}

export function setUpDatasets() {
  const form = $("#dataset-form");
  const result = $("#dataset-result");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      replace(result, h("p", { class: "hint" }, "uploading and checking every file…"));
      const data = new FormData(form);
      if (!data.get("name")) data.delete("name");
      try {
        const record = await request("POST", "/datasets", { form: data });
        replace(result, h("p", { class: "ok" }, `Accepted as ${record.id}.`), card(record));
        await loadDatasets();
      } catch (error) {
        replace(result, rejection(error));
      }
    });
  });
}
