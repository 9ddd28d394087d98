// A small SVG line chart. Numbers place the points only; every label shows the API's own string.
import { groupDigits } from "./amounts.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 640;
const HEIGHT = 220;
const PAD = { left: 8, right: 8, top: 18, bottom: 22 };

function node(name, attributes = {}, text = "") {
  const element = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, value);
  if (text) element.textContent = text;
  return element;
}

// Dragging across the chart calls onZoom(fromDate, toDate) with the times under the drag.
function zoomByDragging(svg, toTime, onZoom) {
  const band = node("rect", { class: "band", y: 0, height: HEIGHT, width: 0 });
  let start = null;
  const position = (event) => {
    const box = svg.getBoundingClientRect();
    return ((event.clientX - box.left) / box.width) * WIDTH;
  };
  svg.addEventListener("pointerdown", (event) => {
    start = position(event);
    band.setAttribute("x", start);
    band.setAttribute("width", 0);
    svg.append(band);
    svg.setPointerCapture(event.pointerId);
  });
  svg.addEventListener("pointermove", (event) => {
    if (start === null) return;
    const here = position(event);
    band.setAttribute("x", Math.min(start, here));
    band.setAttribute("width", Math.abs(here - start));
  });
  svg.addEventListener("pointerup", (event) => {
    if (start === null) return;
    const end = position(event);
    const [left, right] = [Math.min(start, end), Math.max(start, end)];
    start = null;
    band.remove();
    if (right - left > 4) onZoom(new Date(toTime(left)), new Date(toTime(right)));
  });
}

// points: [{at: Date, value: "1234.50"}], oldest first.
export function drawLineChart(container, points, { label = "", currency = "", onZoom } = {}) {
  container.replaceChildren();
  if (points.length === 0) {
    container.textContent = "Nothing to draw in this range.";
    return;
  }
  const svg = node("svg", {
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "none",
  });
  const times = points.map((p) => p.at.getTime());
  const values = points.map((p) => Number(p.value));
  const t0 = Math.min(...times);
  const t1 = Math.max(...times);
  const v0 = Math.min(0, ...values);
  const v1 = Math.max(...values);
  const x = (t) =>
    PAD.left + (t1 === t0 ? 0.5 : (t - t0) / (t1 - t0)) * (WIDTH - PAD.left - PAD.right);
  const y = (v) =>
    HEIGHT - PAD.bottom - (v1 === v0 ? 0.5 : (v - v0) / (v1 - v0)) * (HEIGHT - PAD.top - PAD.bottom);
  const path = points
    .map((p, i) => `${i ? "L" : "M"}${x(times[i]).toFixed(1)},${y(values[i]).toFixed(1)}`)
    .join(" ");
  svg.append(node("path", { d: path, class: "line" }));
  points.forEach((p, i) => {
    const dot = node("circle", {
      cx: x(times[i]).toFixed(1),
      cy: y(values[i]).toFixed(1),
      r: i === points.length - 1 ? 4 : 2.5,
      class: i === points.length - 1 ? "dot last" : "dot",
      "data-amount": p.value,
      "data-at": p.at.toISOString(),
    });
    dot.append(node("title", {}, `${groupDigits(p.value)} ${currency} at ${p.at.toISOString()}`));
    svg.append(dot);
  });
  const highest = points[values.indexOf(v1)].value;
  svg.append(node("text", { x: PAD.left, y: 12, class: "axis" }, `max ${groupDigits(highest)}`));
  svg.append(
    node("text", { x: PAD.left, y: HEIGHT - 6, class: "axis" }, points[0].at.toISOString()),
  );
  svg.append(
    node(
      "text",
      { x: WIDTH - PAD.right, y: HEIGHT - 6, class: "axis end" },
      points[points.length - 1].at.toISOString(),
    ),
  );
  if (onZoom) {
    const span = WIDTH - PAD.left - PAD.right;
    zoomByDragging(svg, (at) => t0 + ((at - PAD.left) / span) * (t1 - t0), onZoom);
  }
  container.append(svg);
}

// A sparkline of numbers over [since, until] (ms): points [{at: ms, value: number | null}], a
// null (nothing measured) leaving a gap in the line.
export function drawSparkline(container, points, { since, until, label }) {
  const [width, height] = [240, 36];
  const values = points.map((p) => p.value).filter((v) => v !== null && Number.isFinite(v));
  const top = Math.max(0, ...values);
  const x = (at) => ((at - since) / Math.max(1, until - since)) * width;
  const y = (v) => height - 2 - (top === 0 ? 0 : (v / top) * (height - 4));
  let path = "";
  let drawing = false;
  for (const p of points) {
    if (p.value === null || !Number.isFinite(p.value)) {
      drawing = false;
      continue;
    }
    path += `${drawing ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.value).toFixed(1)} `;
    drawing = true;
  }
  const svg = node("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": label,
    preserveAspectRatio: "none",
    class: "spark",
  });
  svg.append(node("path", { d: path.trim() || "M0,0", class: "line" }));
  container.replaceChildren(svg);
}
