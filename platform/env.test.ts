// EnvReader: each reader's accepted values and defaults, and the one ConfigError shape for a bad value.
import { EnvReader, LOG_LEVELS, type Env } from "./env.js";
import { ConfigError } from "./errors.js";

const V = "FLINT_X";

/** What `read` threw, checked to be the ConfigError for V. */
function thrownBy(read: () => unknown): ConfigError {
  let thrown: unknown;
  try {
    read();
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(ConfigError);
  expect(thrown).toMatchObject({ code: "CONFIG_INVALID", variable: V });
  return thrown as ConfigError;
}

const reader = (value: string | undefined): EnvReader => new EnvReader({ [V]: value });

describe("string", () => {
  it.each([
    [undefined, undefined],
    ["", undefined],
    [" a b ", " a b "],
  ])("%j reads as %j without a default", (value, want) => {
    expect(reader(value).string(V)).toBe(want);
  });

  it.each([
    [undefined, "dflt"],
    ["", "dflt"],
    ["set", "set"],
  ])("%j reads as %j with a default", (value, want) => {
    expect(reader(value).string(V, "dflt")).toBe(want);
  });
});

describe("fail", () => {
  it.each([
    ["bad", `${V} must be a thing, was "bad"`],
    ['with "quotes"', `${V} must be a thing, was "with \\"quotes\\""`],
    [undefined, `${V} must be a thing, was unset`],
  ])("names the variable and the value %j", (value, message) => {
    expect(thrownBy(() => reader(value).fail(V, "a thing")).message).toBe(message);
  });
});

describe("integer", () => {
  it.each([
    [undefined, 7],
    ["", 7],
    ["0", 0],
    ["65535", 65_535],
    ["007", 7],
  ])("%j reads as %d", (value, want) => {
    expect(reader(value).integer(V, 7, 0, 65_535)).toBe(want);
  });

  it.each(["-1", "65536", "1e3", "1.5", "0x10", " 1", "one", "+1"])("refuses %j", (value) => {
    expect(thrownBy(() => reader(value).integer(V, 7, 0, 65_535)).message).toBe(
      `${V} must be an integer from 0 to 65535, was ${JSON.stringify(value)}`,
    );
  });

  it("has no upper bound unless given one", () => {
    expect(reader("9007199254740991").integer(V, 0, 1)).toBe(Number.MAX_SAFE_INTEGER);
    expect(thrownBy(() => reader("0").integer(V, 5, 1)).message).toBe(
      `${V} must be an integer of at least 1, was "0"`,
    );
    expect(thrownBy(() => reader("9007199254740992").integer(V, 5, 1)).message).toMatch(
      /was "9007199254740992"/,
    );
  });
});

describe("durationMs", () => {
  it.each([
    [undefined, 30_000],
    ["", 30_000],
    ["500ms", 500],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["24h", 86_400_000],
  ])("%j reads as %d ms", (value, want) => {
    expect(reader(value).durationMs(V, 30_000, 1)).toBe(want);
  });

  it.each(["thirty", "30", "-1s", "1d", "30 s", "s"])("refuses %j as not a duration", (value) => {
    expect(thrownBy(() => reader(value).durationMs(V, 30_000, 0)).message).toBe(
      `${V} must be a duration like 30s, was ${JSON.stringify(value)}`,
    );
  });

  it.each([
    ["0s", 1, "1ms"],
    ["0.4ms", 1, "1ms"],
    ["999ms", 1000, "1s"],
  ])("refuses %j below a minimum of %d ms", (value, minMs, shown) => {
    expect(thrownBy(() => reader(value).durationMs(V, 30_000, minMs)).message).toBe(
      `${V} must be a duration of at least ${shown}, was ${JSON.stringify(value)}`,
    );
  });

  it("takes 0s when the minimum is 0", () => {
    expect(reader("0s").durationMs(V, 30_000, 0)).toBe(0);
  });
});

describe("bytes", () => {
  it.each([
    [undefined, 1024],
    ["", 1024],
    ["1", 1],
    ["67108864", 64 * 1024 ** 2],
    ["64Ki", 64 * 1024],
    ["64Mi", 64 * 1024 ** 2],
    ["2Gi", 2 * 1024 ** 3],
  ])("%j reads as %d", (value, want) => {
    expect(reader(value).bytes(V, 1024)).toBe(want);
  });

  it.each(["0", "0Mi", "64MB", "64mi", "64 Mi", "1.5Mi", "-1", "Mi"])("refuses %j", (value) => {
    expect(thrownBy(() => reader(value).bytes(V, 1024)).message).toBe(
      `${V} must be a positive number of bytes like 67108864 or 64Mi (Ki, Mi, Gi), was ${JSON.stringify(value)}`,
    );
  });
});

describe("boolean", () => {
  it.each([
    [undefined, false, false],
    ["", true, true],
    ["true", false, true],
    ["false", true, false],
  ])("%j with default %j reads as %j", (value, fallback, want) => {
    expect(reader(value).boolean(V, fallback)).toBe(want);
  });

  it.each(["1", "0", "yes", "no", "TRUE", "False", "on", " true"])("refuses %j", (value) => {
    expect(thrownBy(() => reader(value).boolean(V, false)).message).toBe(
      `${V} must be true or false, was ${JSON.stringify(value)}`,
    );
  });
});

describe("oneOf", () => {
  const MODES = ["module", "http", "exec"] as const;

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["http", "http"],
  ])("%j reads as %j without a default", (value, want) => {
    expect(reader(value).oneOf(V, MODES)).toBe(want);
  });

  it.each([
    [undefined, "exec"],
    ["module", "module"],
  ])("%j reads as %j with a default", (value, want) => {
    expect(reader(value).oneOf(V, MODES, "exec")).toBe(want);
  });

  it.each(["HTTP", "lambda", " http"])("refuses %j", (value) => {
    expect(thrownBy(() => reader(value).oneOf(V, MODES)).message).toBe(
      `${V} must be one of module, http, exec, was ${JSON.stringify(value)}`,
    );
  });
});

describe("list", () => {
  const lower = (item: string): boolean => /^[a-z]+$/.test(item);

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["a", ["a"]],
    [" a , b,a", ["a", "b", "a"]],
  ])("%j reads as %j", (value, want) => {
    expect(reader(value).list(V, "letters", lower)).toEqual(want);
  });

  it("is frozen", () => {
    expect(Object.isFrozen(reader("a,b").list(V, "letters"))).toBe(true);
  });

  it.each(["a,,b", "a,", ",", "a,B", "  "])("refuses %j", (value) => {
    expect(thrownBy(() => reader(value).list(V, "a comma-separated list of letters", lower)).message).toBe(
      `${V} must be a comma-separated list of letters, was ${JSON.stringify(value)}`,
    );
  });
});

describe("urls", () => {
  const NATS = ["nats:", "tls:"];

  it.each([
    [undefined, undefined],
    ["", undefined],
    ["nats://127.0.0.1:4222", "nats://127.0.0.1:4222"],
    ["nats://a:4222, tls://b:4222", "nats://a:4222,tls://b:4222"],
  ])("%j reads as %j", (value, want) => {
    expect(reader(value).urls(V, NATS)).toBe(want);
  });

  it.each(["http://a:4222", "127.0.0.1:4222", "nats://a:4222,", "nats://a:4222,http://b"])(
    "refuses %j",
    (value) => {
      expect(thrownBy(() => reader(value).urls(V, NATS)).message).toBe(
        `${V} must be a URL (or a comma-separated list) with scheme nats: or tls:, was ${JSON.stringify(value)}`,
      );
    },
  );
});

describe("logLevel", () => {
  it.each<[Env, string]>([
    [{}, "info"],
    [{ FLINT_LOG_LEVEL: "" }, "info"],
    ...LOG_LEVELS.map((level): [Env, string] => [{ FLINT_LOG_LEVEL: level }, level]),
  ])("%j reads as %s", (env, want) => {
    expect(new EnvReader(env).logLevel()).toBe(want);
  });

  it.each(["verbose", "INFO", "warning"])("refuses %j naming FLINT_LOG_LEVEL", (value) => {
    let thrown: unknown;
    try {
      new EnvReader({ FLINT_LOG_LEVEL: value }).logLevel();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ConfigError);
    expect(thrown).toMatchObject({
      variable: "FLINT_LOG_LEVEL",
      message: `FLINT_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent, was ${JSON.stringify(value)}`,
    });
  });
});
