// Waiting for a state in tests: poll a check until it holds or a deadline passes, never a fixed sleep.

export interface WaitOptions {
  /** How long to keep trying, in ms, before failing. Default 15 000. */
  readonly timeoutMs?: number;
  /** Pause between two checks, in ms. Default 10. */
  readonly intervalMs?: number;
}

/**
 * Polls `check` every `intervalMs` until it returns true, and fails after `timeoutMs` naming `what`.
 * A check that throws (a server not listening yet, a 404 before a resource exists) counts as "not
 * yet" and is retried; if the deadline passes, the last error is in the message and is the cause.
 * A check still pending at the deadline fails the wait too, so the deadline holds.
 */
export async function waitFor(
  what: string,
  check: () => boolean | Promise<boolean>,
  { timeoutMs = 15_000, intervalMs = 10 }: WaitOptions = {},
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  let attempts = 0;
  for (;;) {
    attempts += 1;
    const outcome = await settleBy(check, deadline);
    if (outcome instanceof CheckFailed) lastError = outcome.error;
    else if (outcome !== PENDING && outcome) return;
    if (outcome === PENDING || Date.now() >= deadline) {
      const pending = outcome === PENDING ? "; the last check was still running" : "";
      const failed = lastError === undefined ? "" : `; the check last threw: ${messageOf(lastError)}`;
      throw new Error(
        `timed out after ${timeoutMs} ms (${attempts} checks) waiting for ${what}${pending}${failed}`,
        {
          cause: lastError,
        },
      );
    }
    await new Promise((resolve) =>
      setTimeout(resolve, Math.min(intervalMs, Math.max(0, deadline - Date.now()))),
    );
  }
}

/** A check that threw, told apart from one that returned false. */
class CheckFailed {
  constructor(readonly error: unknown) {}
}

const PENDING = Symbol("pending");

/** Runs `check` once; what it returned, what it threw, or PENDING if it has not settled by `deadline`. */
async function settleBy(
  check: () => boolean | Promise<boolean>,
  deadline: number,
): Promise<boolean | CheckFailed | typeof PENDING> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof PENDING>((resolve) => {
    timer = setTimeout(() => resolve(PENDING), Math.max(0, deadline - Date.now()));
  });
  try {
    const run = (async () => check())().then(
      (value) => value,
      (error: unknown) => new CheckFailed(error),
    );
    return await Promise.race([run, late]);
  } finally {
    clearTimeout(timer);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
