// Loss curves on a <canvas>: one line per loss, step on x, value on y. Small on purpose.

const COLORS = ["#e4572e", "#2e86de", "#17a589", "#a569bd", "#f39c12", "#5d6d7e"];
const PAD = { left: 48, right: 12, top: 14, bottom: 26 };

export class LossChart {
  constructor(canvas) {
    this.canvas = canvas;
    this.reset();
  }

  reset() {
    this.points = []; // {step, losses: {name: value}}
    this.canvas.dataset.points = "0";
    this.draw();
  }

  /** One progress report; a step seen before (a replayed event) is ignored. */
  add(step, losses) {
    const last = this.points[this.points.length - 1];
    if (last && step <= last.step) return;
    this.points.push({ step, losses });
    this.canvas.dataset.points = String(this.points.length); // for tests and curious users
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    if (canvas.width !== Math.round(width * ratio)) {
      canvas.width = Math.round(width * ratio);
      canvas.height = Math.round(height * ratio);
    }
    const g = canvas.getContext("2d");
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);
    g.font = "11px system-ui, sans-serif";
    g.fillStyle = "#667";
    if (this.points.length === 0) {
      g.fillText("waiting for the first progress report…", PAD.left, height / 2);
      return;
    }
    const names = [...new Set(this.points.flatMap((p) => Object.keys(p.losses)))];
    const values = this.points.flatMap((p) => Object.values(p.losses)).filter(Number.isFinite);
    let [low, high] = [Math.min(...values), Math.max(...values)];
    if (high - low < 1e-9) [low, high] = [low - 0.5, high + 0.5];
    const first = this.points[0].step;
    const last = Math.max(this.points[this.points.length - 1].step, first + 1);
    const plotW = width - PAD.left - PAD.right;
    const plotH = height - PAD.top - PAD.bottom;
    const x = (step) => PAD.left + ((step - first) / (last - first)) * plotW;
    const y = (value) => PAD.top + (1 - (value - low) / (high - low)) * plotH;

    // axes with the extremes written on them
    g.strokeStyle = "#ccd";
    g.lineWidth = 1;
    g.strokeRect(PAD.left, PAD.top, plotW, plotH);
    g.textAlign = "right";
    for (const value of [high, (high + low) / 2, low]) g.fillText(value.toPrecision(3), PAD.left - 4, y(value) + 4);
    g.textAlign = "center";
    g.fillText(String(first), PAD.left, height - 8);
    g.fillText(String(last), PAD.left + plotW, height - 8);
    g.fillText("step", PAD.left + plotW / 2, height - 8);

    names.forEach((name, i) => {
      g.strokeStyle = COLORS[i % COLORS.length];
      g.lineWidth = 1.5;
      g.beginPath();
      let started = false;
      for (const point of this.points) {
        const value = point.losses[name];
        if (!Number.isFinite(value)) continue;
        started ? g.lineTo(x(point.step), y(value)) : g.moveTo(x(point.step), y(value));
        started = true;
      }
      if (this.points.length === 1) g.arc(x(first), y(this.points[0].losses[name]), 2, 0, 2 * Math.PI);
      g.stroke();
    });
    this.legend(g, names, PAD.left + plotW - 6, PAD.top + 6);
  }

  /** Names with their colour, top right, on a light box so the lines under it do not hide them. */
  legend(g, names, right, top) {
    const width = Math.max(...names.map((name) => g.measureText(name).width)) + 24;
    g.fillStyle = "rgba(255, 255, 255, 0.85)";
    g.fillRect(right - width, top, width, names.length * 14 + 6);
    g.textAlign = "right";
    names.forEach((name, i) => {
      const color = COLORS[i % COLORS.length];
      const baseline = top + 14 + i * 14;
      g.fillStyle = color;
      g.fillText(name, right - 4, baseline);
      g.fillRect(right - width + 4, baseline - 4, 10, 2);
    });
  }
}
