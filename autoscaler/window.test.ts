import { emptyWindow, isWindow, recordSample, secondOf, windowAverage, type SecondWindow } from "./window.js";

function record(window: SecondWindow, samples: [second: number, value: number][]): SecondWindow {
  return samples.reduce((w, [second, value]) => recordSample(w, second, value), window);
}

describe("secondOf", () => {
  it.each([
    [5000, 5],
    [4300, 5],
    [4000, 4],
    [0, 0],
  ])("%d ms → second %d", (ms, second) => {
    expect(secondOf(ms)).toBe(second);
  });
});

describe("SecondWindow", () => {
  it("averages over the seconds seen while the window is not yet full", () => {
    const w = record(emptyWindow(60), [
      [100, 10],
      [101, 20],
    ]);
    expect(windowAverage(w, 60)).toBe(15);
    expect(windowAverage(w, 1)).toBe(20);
  });

  it("counts unobserved seconds as zero and forgets what left the window", () => {
    const w = record(emptyWindow(4), [
      [1, 8],
      [2, 8],
      [5, 4],
    ]);
    expect(windowAverage(w, 4)).toBe(3); // seconds 2..5: 8, 0, 0, 4
    const later = recordSample(w, 20, 1);
    expect(windowAverage(later, 4)).toBe(0.25);
  });

  it("keeps the larger value when a second is recorded twice (a poke and its tick)", () => {
    const w = record(emptyWindow(10), [
      [7, 3],
      [7, 1],
    ]);
    expect(windowAverage(w, 1)).toBe(3);
    expect(windowAverage(recordSample(w, 7, 9), 1)).toBe(9);
  });

  it("never changes a window it was given, and shares the samples when nothing changes", () => {
    const before = record(emptyWindow(5), [[1, 2]]);
    const copy = structuredClone(before);
    const after = recordSample(before, 2, 6);
    expect(before).toEqual(copy);
    expect(windowAverage(after, 2)).toBe(4);
    const idle = record(emptyWindow(5), [[1, 0]]);
    expect(recordSample(idle, 2, 0).samples).toBe(idle.samples);
  });

  it.each([
    [{ lastSecond: 3, firstSecond: 1, samples: [0, 1, 2] }, true],
    [{ lastSecond: null, firstSecond: null, samples: [0, 0, 0] }, true],
    [{ lastSecond: 3, firstSecond: 1, samples: [0, 1] }, false],
    [{ lastSecond: 3, firstSecond: 1, samples: [0, -1, 2] }, false],
    [{ lastSecond: "3", firstSecond: 1, samples: [0, 1, 2] }, false],
    [null, false],
  ])("isWindow(%j) is %s", (value, valid) => {
    expect(isWindow(value, 3)).toBe(valid);
  });
});
