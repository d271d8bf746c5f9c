// Tiny DOM helpers: the page is built from plain elements, no framework.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** h("a", {href: "#", class: "x", onclick}, "text", child) -> an element. */
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "dataset") Object.assign(element.dataset, value);
    else element.setAttribute(name, value === true ? "" : value);
  }
  element.append(...children.flat().filter((child) => child !== null && child !== undefined && child !== false));
  return element;
}

export function replace(element, ...children) {
  element.replaceChildren(...children.flat().filter(Boolean));
  return element;
}

export const errorBox = (text) => h("pre", { class: "error", role: "alert" }, text);

/** Disable a form's buttons while `work` runs, so a double click sends one request. */
export async function busy(form, work) {
  const buttons = $$("button", form);
  buttons.forEach((b) => (b.disabled = true));
  form.classList.add("busy");
  try {
    return await work();
  } finally {
    buttons.forEach((b) => (b.disabled = false));
    form.classList.remove("busy");
  }
}

export function formatSeconds(seconds) {
  if (seconds === null || seconds === undefined) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
}

/** A download link for an object URL, named after the output. */
export const downloadLink = (url, name) => h("a", { href: url, download: name, class: "download" }, `Download ${name}`);
