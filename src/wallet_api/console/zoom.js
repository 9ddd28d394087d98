// The balance chart's time range moved by the keyboard: pure functions of [from, to] in ms, kept
// inside the full range, where null means "all of it".
const MIN_SPAN_MS = 1;
const PAN_SHARE = 0.25;

export const KEYS_HELP =
  "Drag across the chart to zoom in, or focus it and press + or − to zoom around its centre, ← or → to pan, 0 or Esc to show all.";

// Shifted rather than cut at an end, so that a pan keeps the range's width.
function within([from, to], [first, last]) {
  const span = to - from;
  if (span >= last - first) return null;
  if (from < first) return [first, first + span];
  if (to > last) return [last - span, last];
  return [from, to];
}

function zoomed([from, to], full, factor) {
  const centre = (from + to) / 2;
  const half = Math.max(MIN_SPAN_MS, (to - from) * factor) / 2;
  return within([centre - half, centre + half], full);
}

function panned([from, to], full, share) {
  const step = (to - from) * share;
  return within([from + step, to + step], full);
}

// The range after a key press, or undefined for a key that does not move the chart.
export function rangeAfterKey(key, range, full) {
  const moves = {
    "+": () => zoomed(range, full, 0.5),
    "=": () => zoomed(range, full, 0.5),
    "-": () => zoomed(range, full, 2),
    "_": () => zoomed(range, full, 2),
    ArrowLeft: () => panned(range, full, -PAN_SHARE),
    ArrowRight: () => panned(range, full, PAN_SHARE),
    0: () => null,
    Escape: () => null,
  };
  return Object.hasOwn(moves, key) ? moves[key]() : undefined;
}
