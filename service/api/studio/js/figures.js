// Every figure a manifest holds, as small labelled tables: what /evaluate recorded
// (metrics.evaluations), what the zoo measured on held-out data (PSNR/SSIM against bicubic,
// L1 and cycle figures), same-compute comparisons, an InfoGAN's category matching, the quality
// gate's verdict, and any other number the manifest carries, so nothing it says stays hidden.
import { h } from "./dom.js";

/** Figures by name and how to label them, in the order they are shown. */
const LABELS = [
  ["fid", "FID"], ["kid_mean", "KID"], ["kid", "KID"], ["kid_std", "KID ±"], ["precision", "precision"], ["recall", "recall"],
  ["inception_score_mean", "IS"], ["class_accuracy", "class acc."],
  ["psnr_y", "PSNR-Y dB"], ["heldout_psnr_y", "PSNR-Y dB"], ["bicubic_psnr_y", "bicubic PSNR-Y dB"], ["psnr_gain_db", "gain dB"],
  ["ssim_y", "SSIM-Y"], ["heldout_ssim_y", "SSIM-Y"], ["bicubic_ssim_y", "bicubic SSIM-Y"],
  ["l1", "L1"], ["l1_a2b", "L1 a→b"], ["l1_b2a", "L1 b→a"], ["identity_l1", "input's L1"], ["baseline_l1_input", "input's L1"],
  ["baseline_l1_mean_image", "mean image's L1"], ["cycle_l1_a", "cycle L1 a"], ["cycle_l1_b", "cycle L1 b"],
  ["sample_l1_a2b", "L1 a→b (train pairs)"], ["sample_l1_identity", "input's L1 (train pairs)"],
  ["psnr", "PSNR dB"], ["identity_psnr", "input's PSNR dB"], ["identity_fid", "input's FID"],
];
const LABELLED = new Set(LABELS.map(([name]) => name));
const isNumber = (value) => typeof value === "number" && Number.isFinite(value);
const show = (value) => (Number.isInteger(value) || Math.abs(value) >= 1000 ? String(Math.round(value)) : Number(value).toPrecision(3));

/** [[label, value]] of the labelled figures in `figures`. */
function labelled(figures) {
  return LABELS.filter(([name]) => isNumber(figures[name])).map(([name, label]) => [label, show(figures[name])]);
}

function table(caption, rows) {
  if (!rows.length) return null;
  return h("table", { class: "figures" }, h("caption", {}, caption),
    rows.map(([label, value]) => h("tr", {}, h("th", {}, label), h("td", {}, value))));
}

function evaluations(metrics) {
  return Object.entries(metrics.evaluations || {}).map(([key, figures]) => {
    const samples = figures.n_fake ? `, ${figures.n_fake} samples` : figures.n_images ? `, ${figures.n_images} images` : "";
    return table(`${key}${samples}`, labelled(figures));
  });
}

function heldOut(metrics) {
  const images = Array.isArray(metrics.heldout_images) ? metrics.heldout_images.length : metrics.heldout_images;
  return table(images ? `held-out, ${images} images` : "measured at training", labelled(metrics));
}

function sameCompute(metrics) {
  const comparison = metrics.same_compute_comparison;
  if (!comparison) return null;
  const entries = Object.entries(comparison).filter(([, figures]) => figures && isNumber(figures.fid));
  const first = entries[0]?.[1] || {};
  const budget = comparison.same_compute?.cpu_seconds_each;
  return table(`same compute${budget ? ` (${budget} CPU-s each)` : ""}: ${first.dataset}, ${first.extractor}, ${first.n_fake} samples`,
    entries.map(([name, figures]) => [name, labelled(figures).map(([label, value]) => `${label} ${value}`).join(" · ")]));
}

function categories(manifest) {
  const rows = (manifest.signature?.codes || []).filter((code) => isNumber(code.agreement))
    .map((code) => [code.name, `${code.draws.map((c, value) => `${value}→${code.classes[c]}`).join(" ")}; agreement ${show(code.agreement)}`]);
  return table("codes matched to classes (value→class)", rows);
}

function others(metrics) {
  const rows = Object.entries(metrics).filter(([name, value]) => isNumber(value) && !LABELLED.has(name)
    && name !== "heldout_images").map(([name, value]) => [name.replaceAll("_", " "), show(value)]);
  return table("other figures", rows);
}

function gate(metrics) {
  const verdict = metrics.quality_gate;
  if (!verdict) return null;
  return h("p", { class: "hint gate" }, `${verdict.promoted ? "promoted" : "not promoted"}: ${verdict.reason}`);
}

/** Every figure of a manifest as elements; a hint when there are none. */
export function figureTables(manifest) {
  const metrics = manifest.metrics || {};
  const parts = [...evaluations(metrics), heldOut(metrics), sameCompute(metrics), categories(manifest), others(metrics), gate(metrics)]
    .filter(Boolean);
  return parts.length ? parts : [h("p", { class: "hint" }, "not evaluated yet")];
}

/** One line per evaluation: "FID 0.378 · KID 0.00294 · … (mnist-5k, mnist_cnn, 2000 samples)". */
export function qualityLines(manifest) {
  return Object.values(manifest.metrics?.evaluations || {}).map((figures) =>
    labelled(figures).map(([label, value]) => `${label} ${value}`).join(" · ") +
    ` (${figures.dataset}, ${figures.extractor}${figures.n_fake ? `, ${figures.n_fake} samples` : ""})`);
}
