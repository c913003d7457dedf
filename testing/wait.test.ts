// waitFor: returns once the check holds, retries a check that throws, and fails by its deadline
// with what it waited for and the check's last error.
import { waitFor } from "./wait.js";

describe("waitFor", () => {
  it("returns once the check holds, polling every intervalMs", async () => {
    let calls = 0;
    await waitFor("the third call", () => ++calls === 3, { intervalMs: 1 });
    expect(calls).toBe(3);
  });

  it("awaits an async check", async () => {
    let calls = 0;
    await waitFor("an async yes", () => Promise.resolve(++calls >= 2), { intervalMs: 1 });
    expect(calls).toBe(2);
  });

  it("retries a check that throws until it holds", async () => {
    let calls = 0;
    await waitFor(
      "the server to answer",
      () => {
        calls += 1;
        if (calls < 3) throw new Error("ECONNREFUSED");
        return true;
      },
      { intervalMs: 1 },
    );
    expect(calls).toBe(3);
  });

  it("fails after timeoutMs naming what it waited for", async () => {
    const started = Date.now();
    const error = await waitFor("a state that never comes", () => false, {
      timeoutMs: 50,
      intervalMs: 5,
    }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /^timed out after 50 ms \(\d+ checks\) waiting for a state that never comes$/,
    );
    expect((error as Error).cause).toBeUndefined();
    expect(Date.now() - started).toBeGreaterThanOrEqual(50);
  });

  it("reports the check's last error, as the message and the cause", async () => {
    let calls = 0;
    const error = await waitFor(
      "the route",
      () => {
        calls += 1;
        throw new Error(`404 number ${calls}`);
      },
      { timeoutMs: 40, intervalMs: 5 },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).toContain("waiting for the route; the check last threw: 404 number");
    expect(((error as Error).cause as Error).message).toBe(`404 number ${calls}`);
    expect(calls).toBeGreaterThan(1);
  });

  it("fails by the deadline when a check never settles", async () => {
    const started = Date.now();
    await expect(
      waitFor("a hung call", () => new Promise<boolean>(() => undefined), { timeoutMs: 50 }),
    ).rejects.toThrow(/waiting for a hung call; the last check was still running/);
    // Well under jest's own timeout: the wait ended at its deadline, not when something else gave up.
    expect(Date.now() - started).toBeLessThan(5_000);
  });
});
