import { plotSvg } from "./plot.js";

describe("plotSvg", () => {
  const svg = plotSvg({
    title: "cold starts < memory & more",
    xLabel: "idle %",
    yLabel: "cold %",
    logY: true,
    series: [
      {
        name: "fixed",
        color: "#d62728",
        line: "solid",
        points: [
          { x: 50, y: 10, label: "1m" },
          { x: 100, y: 1, label: "10m" },
        ],
      },
      { name: "oracle", color: "#7f7f7f", marker: "square", points: [{ x: 4, y: 0.003 }] },
    ],
  });

  it("is one SVG document with a line, a marker per point and per legend entry, and escaped text", () => {
    expect(svg.startsWith("<svg xmlns=")).toBe(true);
    expect(svg.trimEnd().endsWith("</svg>")).toBe(true);
    expect(svg.match(/<polyline /g)).toHaveLength(1);
    expect(svg.match(/<circle /g)).toHaveLength(3); // two points and one legend marker
    expect(svg).toContain("cold starts &lt; memory &amp; more");
    expect(svg).toContain(">10m</text>");
  });

  it("spans the log axis over whole decades around the data", () => {
    const yTicks = [...svg.matchAll(/text-anchor="end">([^<]+)<\/text>/g)].map((m) => m[1]);
    expect(yTicks).toEqual(["0.001", "0.01", "0.1", "1", "10"]);
  });
});
