// Train: a form built from GET /train/architectures, then a live dashboard fed by the job's events.
import { blobUrl, describe, events, get, post } from "./api.js";
import { LossChart } from "./chart.js";
import { datasets, onDatasets } from "./datasets.js";
import { $, busy, errorBox, formatSeconds, h, replace } from "./dom.js";
import { onWatch, remember } from "./jobs.js";
import { qualityLines } from "./figures.js";
import { loadModels } from "./models.js";
import { SchemaForm } from "./schema_form.js";

let architectures = [];
let hyperparameters;
let chart;
let watching = null; // {id, controller}

const family = (form) => architectures.find((a) => a.name === form.architecture.value);

/** Datasets the chosen family trains on (by layout). */
function fillDatasets(form) {
  const chosen = family(form);
  if (!chosen) return;
  const current = form.dataset.value;
  const fitting = datasets.filter((d) => chosen.layouts.includes(d.layout));
  replace(form.dataset, fitting.map((d) => h("option", { value: d.id }, d.builtin ? d.id : `${d.name || d.id} (${d.id})`)));
  if (fitting.some((d) => d.id === current)) form.dataset.value = current;
}

function chooseArchitecture(form) {
  const chosen = family(form);
  if (!chosen) return;
  $("#architecture-summary").textContent = `${chosen.summary} Trains on: ${chosen.layouts.join(", ")} datasets; makes a ${chosen.task} model.`;
  hyperparameters.render(chosen.hyperparameters);
  fillDatasets(form);
}

function requestFrom(form) {
  const number = (field) => (field.value === "" ? undefined : Number(field.value));
  return {
    architecture: form.architecture.value,
    dataset: form.dataset.value,
    model_name: form.model_name.value,
    steps: number(form.steps),
    image_size: number(form.image_size),
    seed: number(form.seed),
    sample_every: number(form.sample_every),
    checkpoint_every: number(form.checkpoint_every),
    hyperparameters: hyperparameters.values(),
  };
}

// -- the dashboard -------------------------------------------------------------------------------

function showStatus(status) {
  const badge = $("#dash-status");
  badge.textContent = status;
  badge.className = `status ${status}`;
  $("#dash-cancel").hidden = status !== "queued" && status !== "running";
}

function showProgress(progress) {
  if (!progress) return;
  const { step, total, losses, images_per_sec: rate, eta_s: eta, elapsed_s: elapsed } = progress;
  chart.add(step, losses || {});
  $("#dash-progress").max = total || 1;
  $("#dash-progress").value = step;
  $("#dash-step").textContent = `${step} / ${total}`;
  $("#dash-rate").textContent = rate ?? "–";
  $("#dash-eta").textContent = formatSeconds(eta);
  $("#dash-elapsed").textContent = formatSeconds(elapsed);
}

async function showSample(sample) {
  const src = await blobUrl(sample.url);
  const latest = $("#sample-latest");
  latest.src = src;
  latest.hidden = false;
  $("#sample-caption").textContent = `sample grid at step ${sample.step}`;
  const strip = $("#sample-strip");
  if (!strip.querySelector(`[data-step="${sample.step}"]`)) {
    strip.append(h("button", { type: "button", class: "thumb", "data-step": sample.step, title: `step ${sample.step}`,
      onclick: () => ((latest.src = src), ($("#sample-caption").textContent = `sample grid at step ${sample.step}`)) },
      h("img", { src, alt: `step ${sample.step}` }), h("small", {}, sample.step)));
  }
}

/** The end: the registered version and its evaluation, or why there is none. */
async function showResult(job) {
  const result = $("#dash-result");
  if (job.status === "succeeded" && job.model) {
    const ref = `${job.model.name}:${job.model.version}`;
    let figures = [];
    try {
      figures = qualityLines(await get(`/models/${job.model.name}/versions/${job.model.version}`));
    } catch { /* the manifest is a nicety here */ }
    const useIt = () => {
      const picker = $("#generate-form").model;
      picker.value = ref;
      picker.dispatchEvent(new Event("change"));
    };
    replace(result, h("p", { class: "ok" }, `Registered as ${ref}. `, h("a", { href: "#generate", onclick: useIt }, "Generate with it")),
      figures.length ? figures.map((line) => h("p", { class: "hint" }, line))
        : h("p", { class: "hint" }, "No evaluation recorded yet (POST /evaluate measures it)."));
    await loadModels(); // the new version joins the gallery and the pickers
  } else if (job.status === "failed") {
    replace(result, errorBox(`${job.error?.type}: ${job.error?.detail}`));
  } else if (job.status === "canceled") {
    replace(result, h("p", { class: "hint" }, `Canceled${job.metrics?.stopped_at_step ? ` at step ${job.metrics.stopped_at_step}` : ""}; its newest checkpoint is kept.`));
  }
}

/** Follow one training job on the dashboard; a new one replaces it. */
export async function watch(jobId) {
  watching?.controller.abort();
  const controller = new AbortController();
  watching = { id: jobId, controller };
  const dashboard = $("#dashboard");
  dashboard.hidden = false;
  dashboard.dataset.job = jobId;
  replace($("#sample-strip"));
  replace($("#dash-result"));
  $("#sample-latest").hidden = true;
  $("#sample-caption").textContent = "sample grids appear as they are published";
  chart.reset();
  try {
    const job = await get(`/jobs/${jobId}`);
    $("#dash-title").textContent = `${job.params.architecture} on ${job.params.dataset} → ${job.params.model_name}`;
    showStatus(job.status);
    // The stream replays the job's whole history first, so the chart and strip fill from step 0;
    // a stream that drops before the end is picked up again after the last event seen.
    let after = null;
    for (let ended = false; !ended;) {
      try {
        for await (const { event, data, id } of events(jobId, { signal: controller.signal, after })) {
          after = id || after;
          if (event === "status") showStatus(data.status);
          else if (event === "progress") showProgress(data.progress);
          else if (event === "sample") showSample(data);
          else if (event === "end") {
            ended = true;
            showStatus(data.status);
            showProgress(data.progress);
            remember(data);
            await showResult(data);
          }
        }
      } catch (error) {
        if (error.name === "AbortError" || error.status) throw error; // aborted, or the API said no
      }
      if (!ended) await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  } catch (error) {
    if (error.name !== "AbortError") replace($("#dash-result"), errorBox(describe(error)));
  }
}

async function cancel() {
  if (!watching) return;
  try {
    const job = await post(`/jobs/${watching.id}/cancel`);
    showStatus(job.status);
    remember(job);
  } catch (error) {
    replace($("#dash-result"), errorBox(describe(error)));
  }
}

export function setUpTrain() {
  const form = $("#train-form");
  hyperparameters = new SchemaForm($("#hyperparameters"));
  chart = new LossChart($("#loss-chart"));
  form.architecture.addEventListener("change", () => chooseArchitecture(form));
  onDatasets(() => fillDatasets(form));
  onWatch((id) => {
    location.hash = "#train";
    watch(id);
  });
  $("#dash-cancel").addEventListener("click", cancel);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    busy(form, async () => {
      try {
        replace($("#train-result"));
        const job = await post("/train", { json: requestFrom(form) });
        remember(job);
        watch(job.id);
      } catch (error) {
        replace($("#train-result"), errorBox(describe(error)));
      }
    });
  });
}

/** The families the service trains, into the form (again after the API key changes). */
export async function loadArchitectures() {
  const form = $("#train-form");
  try {
    architectures = (await get("/train/architectures")).architectures;
  } catch (error) {
    replace($("#architecture-summary"), errorBox(describe(error)));
    return;
  }
  const current = form.architecture.value;
  replace(form.architecture, architectures.map((a) => h("option", { value: a.name }, `${a.name} (${a.task})`)));
  if (architectures.some((a) => a.name === current)) form.architecture.value = current;
  chooseArchitecture(form);
}
