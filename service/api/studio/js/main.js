// GANForge Studio: wires the tabs, the API key and each section together.
import { apiKey, describe, get } from "./api.js";
import { loadDatasets, setUpDatasets } from "./datasets.js";
import { $, $$ } from "./dom.js";
import { setUpGenerate } from "./generate.js";
import { setUpImageOps } from "./imageops.js";
import { refresh, render } from "./jobs.js";
import { loadModels } from "./models.js";
import { loadArchitectures, setUpTrain } from "./train.js";

const TABS = $$("section.tab").map((section) => section.id);

function showTab() {
  const current = TABS.includes(location.hash.slice(1)) ? location.hash.slice(1) : TABS[0];
  for (const section of $$("section.tab")) section.hidden = section.id !== current;
  for (const link of $$("#tabs a")) link.classList.toggle("active", link.getAttribute("href") === `#${current}`);
  if (current === "jobs") refresh();
}

function notice(text) {
  const element = $("#notice");
  element.textContent = text || "";
  element.hidden = !text;
}

/** Everything that reads the API, again (after the key changes). */
async function loadAll() {
  document.body.dataset.ready = "false";
  try {
    await get("/models");
    notice("");
  } catch (error) {
    notice(error.status === 401 || error.status === 403
      ? `The API wants a key: enter it at the top right. (${describe(error)})`
      : `The API did not answer: ${describe(error)}`);
  }
  // one section failing must not keep the others from loading
  await Promise.allSettled([loadModels(), loadDatasets(), loadArchitectures()]);
  document.body.dataset.ready = "true"; // models, datasets and architectures are in (or their errors)
}

function setUpKey() {
  const field = $("#api-key");
  field.value = apiKey.get();
  field.addEventListener("change", () => {
    apiKey.set(field.value.trim());
    loadAll();
  });
}

setUpKey();
setUpGenerate();
setUpImageOps();
setUpDatasets();
render();
window.addEventListener("hashchange", showTab);
showTab();
setUpTrain();
loadAll();
