// A before/after slider: the result underneath, the input on top clipped at the handle.
import { h } from "./dom.js";

export function beforeAfter(beforeUrl, afterUrl, { width, height } = {}) {
  const after = h("img", { src: afterUrl, alt: "after", class: "after" });
  const before = h("img", { src: beforeUrl, alt: "before", class: "before" });
  const handle = h("div", { class: "handle" });
  const range = h("input", { type: "range", min: 0, max: 100, value: 50, "aria-label": "before / after" });
  const frame = h("div", { class: "frame" }, after, before, handle,
    h("span", { class: "tag left" }, "before"), h("span", { class: "tag right" }, "after"));
  if (width && height) frame.style.aspectRatio = `${width} / ${height}`;

  const show = (percent) => {
    range.value = percent;
    before.style.clipPath = `inset(0 ${100 - percent}% 0 0)`;
    handle.style.left = `${percent}%`;
  };
  range.addEventListener("input", () => show(Number(range.value)));
  // dragging on the picture moves the handle too
  const follow = (event) => {
    const box = frame.getBoundingClientRect();
    show(Math.max(0, Math.min(100, ((event.clientX - box.left) / box.width) * 100)));
  };
  frame.addEventListener("pointerdown", (event) => {
    frame.setPointerCapture(event.pointerId);
    follow(event);
    frame.addEventListener("pointermove", follow);
  });
  frame.addEventListener("pointerup", () => frame.removeEventListener("pointermove", follow));
  show(50);
  return h("div", { class: "slider", "data-testid": "before-after" }, frame, range);
}
