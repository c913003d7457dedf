// A scatter/line chart as SVG text, written by hand (no plotting dependency): cold starts against wasted memory-time.

/** One point; `label` is written beside it. */
export interface PlotPoint {
  readonly x: number;
  readonly y: number;
  readonly label?: string;
}

/** A named set of points, joined by a line when `line` is set. */
export interface PlotSeries {
  readonly name: string;
  readonly color: string;
  readonly points: readonly PlotPoint[];
  readonly line?: "solid" | "dashed";
  /** Marker: a circle (default), a square or a diamond. */
  readonly marker?: "circle" | "square" | "diamond";
  /** Where point labels go: above right (default), below right, or left. */
  readonly labels?: "above" | "below" | "left";
}

export interface Plot {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly PlotSeries[];
  /** A logarithmic y axis (values ≤ 0 are drawn at the axis floor). */
  readonly logY?: boolean;
}

const WIDTH = 820;
const HEIGHT = 500;
const LEFT = 80;
const RIGHT = 230;
const TOP = 50;
const BOTTOM = 60;

/** The chart as a standalone SVG document. */
export function plotSvg(plot: Plot): string {
  const points = plot.series.flatMap((s) => s.points);
  const xs = points.map((p) => p.x);
  const xMax = niceCeiling(Math.max(...xs, 1) * 1.05);
  const plotWidth = WIDTH - LEFT - RIGHT;
  const plotHeight = HEIGHT - TOP - BOTTOM;
  const x = (value: number): number => LEFT + (value / xMax) * plotWidth;

  const positive = points.map((p) => p.y).filter((v) => v > 0);
  const yLow = plot.logY ? 10 ** Math.floor(Math.log10(Math.min(...positive, 1))) : 0;
  const yHigh = plot.logY
    ? 10 ** Math.ceil(Math.log10(Math.max(...positive, 1)))
    : niceCeiling(Math.max(...points.map((p) => p.y), 1) * 1.05);
  const y = (value: number): number => {
    const share = plot.logY
      ? (Math.log10(Math.max(value, yLow)) - Math.log10(yLow)) / (Math.log10(yHigh) - Math.log10(yLow))
      : value / yHigh;
    return TOP + plotHeight * (1 - share);
  };

  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    `<text x="${LEFT}" y="${TOP - 22}" font-size="15" font-weight="bold">${escape(plot.title)}</text>`,
  ];

  for (const tick of linearTicks(xMax)) {
    parts.push(
      `<line x1="${fixed(x(tick))}" y1="${TOP}" x2="${fixed(x(tick))}" y2="${TOP + plotHeight}" stroke="#e5e5e5"/>`,
      `<text x="${fixed(x(tick))}" y="${TOP + plotHeight + 18}" text-anchor="middle">${formatTick(tick)}</text>`,
    );
  }
  const yTicks = plot.logY ? logTicks(yLow, yHigh) : linearTicks(yHigh);
  for (const tick of yTicks) {
    parts.push(
      `<line x1="${LEFT}" y1="${fixed(y(tick))}" x2="${LEFT + plotWidth}" y2="${fixed(y(tick))}" stroke="#e5e5e5"/>`,
      `<text x="${LEFT - 8}" y="${fixed(y(tick) + 4)}" text-anchor="end">${formatTick(tick)}</text>`,
    );
  }
  parts.push(
    `<rect x="${LEFT}" y="${TOP}" width="${plotWidth}" height="${plotHeight}" fill="none" stroke="#333"/>`,
    `<text x="${LEFT + plotWidth / 2}" y="${HEIGHT - 15}" text-anchor="middle">${escape(plot.xLabel)}</text>`,
    `<text x="18" y="${TOP + plotHeight / 2}" text-anchor="middle" transform="rotate(-90 18 ${TOP + plotHeight / 2})">${escape(plot.yLabel)}</text>`,
  );

  plot.series.forEach((series, index) => {
    if (series.line !== undefined && series.points.length > 1) {
      const path = series.points.map((p) => `${fixed(x(p.x))},${fixed(y(p.y))}`).join(" ");
      const dash = series.line === "dashed" ? ` stroke-dasharray="6 4"` : "";
      parts.push(`<polyline points="${path}" fill="none" stroke="${series.color}" stroke-width="2"${dash}/>`);
    }
    for (const point of series.points) {
      parts.push(marker(series.marker ?? "circle", x(point.x), y(point.y), series.color));
      if (point.label !== undefined) {
        const placement = series.labels ?? "above";
        const dx = placement === "left" ? -9 : 7;
        const dy = placement === "below" ? 17 : placement === "left" ? 4 : -7;
        const anchor = placement === "left" ? ` text-anchor="end"` : "";
        parts.push(
          `<text x="${fixed(x(point.x) + dx)}" y="${fixed(y(point.y) + dy)}" fill="${series.color}"${anchor}>${escape(point.label)}</text>`,
        );
      }
    }
    const legendY = TOP + 10 + index * 22;
    const legendX = LEFT + plotWidth + 20;
    if (series.line !== undefined) {
      const dash = series.line === "dashed" ? ` stroke-dasharray="6 4"` : "";
      parts.push(
        `<line x1="${legendX - 8}" y1="${legendY}" x2="${legendX + 8}" y2="${legendY}" stroke="${series.color}" stroke-width="2"${dash}/>`,
      );
    }
    parts.push(
      marker(series.marker ?? "circle", legendX, legendY, series.color),
      `<text x="${legendX + 16}" y="${legendY + 4}">${escape(series.name)}</text>`,
    );
  });

  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

function marker(shape: "circle" | "square" | "diamond", cx: number, cy: number, color: string): string {
  switch (shape) {
    case "circle":
      return `<circle cx="${fixed(cx)}" cy="${fixed(cy)}" r="4.5" fill="${color}"/>`;
    case "square":
      return `<rect x="${fixed(cx - 4.5)}" y="${fixed(cy - 4.5)}" width="9" height="9" fill="${color}"/>`;
    case "diamond":
      return `<polygon points="${fixed(cx)},${fixed(cy - 6)} ${fixed(cx + 6)},${fixed(cy)} ${fixed(cx)},${fixed(cy + 6)} ${fixed(cx - 6)},${fixed(cy)}" fill="${color}"/>`;
  }
}

/** The smallest 1, 2 or 5 × 10ⁿ at or above `value`. */
function niceCeiling(value: number): number {
  const magnitude = 10 ** Math.floor(Math.log10(value));
  for (const step of [1, 2, 2.5, 5, 10]) if (step * magnitude >= value) return step * magnitude;
  return 10 * magnitude;
}

function linearTicks(max: number): number[] {
  const step = niceCeiling(max / 6);
  const ticks: number[] = [];
  for (let tick = 0; tick <= max + step / 1e6; tick += step) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

function logTicks(low: number, high: number): number[] {
  const ticks: number[] = [];
  for (let tick = low; tick <= high * 1.0001; tick *= 10) ticks.push(Number(tick.toPrecision(12)));
  return ticks;
}

function formatTick(value: number): string {
  return value >= 1 || value === 0
    ? String(Number(value.toPrecision(6)))
    : String(Number(value.toPrecision(3)));
}

function fixed(value: number): string {
  return value.toFixed(1);
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}
