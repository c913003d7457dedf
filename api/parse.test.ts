import { compileRule, UnimplementedRuleError } from "./cel.js";
import { loadRules } from "./parse.js";
import {
  MANIFEST_LIMITS,
  ManifestInvalidError,
  formatFieldError,
  parseFunction,
  parseManifests,
  type ValidationResult,
} from "./index.js";

/** A valid module-mode manifest; cases below change one thing at a time. */
const base = (spec: string, metadata = "name: hello"): string => `apiVersion: flint.dev/v1alpha1
kind: Function
metadata:
  ${metadata}
spec:
${spec
  .trim()
  .split("\n")
  .map((line) => `  ${line}`)
  .join("\n")}
`;
const MODULE = "handler: { mode: module, entry: handler.js }";

function messages(input: string | Uint8Array): string[] {
  return parseManifests(input).flatMap((r: ValidationResult) => (r.ok ? [] : r.errors.map(formatFieldError)));
}

describe("valid manifests", () => {
  it.each([
    ["module mode, minimal", base(MODULE)],
    [
      "module mode, lambda shape with an export",
      base("handler: { mode: module, entry: index.mjs, shape: lambda, export: handler }"),
    ],
    ["http mode with a command", base('handler: { mode: http, command: ["node", "server.js"], port: 3000 }')],
    [
      "http mode as a sidecar to an image",
      base("image: example.com/api:1\nhandler: { mode: http, port: 8080 }"),
    ],
    ["exec mode", base('handler: { mode: exec, command: ["./shout.sh"] }')],
    [
      "everything set",
      base(`
image: registry.example.com/hello:1.0
handler: { mode: module, entry: handler.js }
env: [{ name: GREETING, value: hi }, { name: _X1 }]
secrets: [db-credentials, api.keys]
resources: { requests: { cpu: 50m, memory: 64Mi }, limits: { cpu: "1", memory: 1Gi } }
timeout: 1m30s
maxBodyBytes: 1048576
scale: { min: 1, max: 5, target: 4, concurrency: 8, idle: 5m }
async: { maxRetries: 5, backoff: { initial: 500ms, max: 2m }, deadLetter: false }`),
    ],
    [
      "JSON instead of YAML",
      JSON.stringify({
        apiVersion: "flint.dev/v1alpha1",
        kind: "Function",
        metadata: { name: "j" },
        spec: { handler: { mode: "exec", command: ["cat"] } },
      }),
    ],
    [
      "a namespace and labels",
      base(MODULE, "name: hello\n  namespace: team-a\n  labels: { app.kubernetes.io/name: hello }"),
    ],
    ["a 63-character name", base(MODULE, `name: ${"a".repeat(63)}`)],
    ["scale.min equal to scale.max", base(`${MODULE}\nscale: { min: 3, max: 3 }`)],
    ["a timeout of exactly 1h", base(`${MODULE}\ntimeout: 1h`)],
  ])("%s", (_name, manifest) => {
    expect(messages(manifest)).toEqual([]);
  });

  it("applies the CRD's defaults, nested ones included", () => {
    const fn = parseFunction(base(MODULE));
    expect(fn.metadata).toEqual({ name: "hello", namespace: "default" });
    expect(fn.spec.timeout).toBe("30s");
    expect(fn.spec.maxBodyBytes).toBe(10 * 1024 * 1024);
    expect(fn.spec.scale).toEqual({ min: 0, max: 20, target: 10, concurrency: 0, idle: "auto" });
    expect(fn.spec.async).toEqual({
      maxRetries: 3,
      backoff: { initial: "1s", max: "60s" },
      deadLetter: true,
    });
  });

  it("keeps the namespace a manifest gives, and uses the caller's default otherwise", () => {
    expect(parseFunction(base(MODULE, "name: a\n  namespace: prod")).metadata.namespace).toBe("prod");
    expect(parseFunction(base(MODULE), { defaultNamespace: "dev" }).metadata.namespace).toBe("dev");
  });

  it("reads every document of a multi-document file", () => {
    const results = parseManifests(
      `${base(MODULE)}---\n${base("handler: { mode: exec }", "name: two")}---\n`,
    );
    expect(results.map((r) => r.ok)).toEqual([true, false]);
  });

  it("skips documents of other kinds when asked to", () => {
    const deployment = "apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: x }\n";
    const file = `${deployment}---\n${base(MODULE)}`;
    expect(parseManifests(file, { onlyFunctions: true }).map((r) => r.ok)).toEqual([true]);
    expect(parseManifests(file).map((r) => r.ok)).toEqual([false, true]);
  });

  it("does not change the value it was given", () => {
    const value = {
      apiVersion: "flint.dev/v1alpha1",
      kind: "Function",
      metadata: { name: "a" },
      spec: { handler: { mode: "exec", command: ["cat"] } },
    };
    const before = JSON.stringify(value);
    parseManifests(JSON.stringify(value));
    expect(JSON.stringify(value)).toBe(before);
  });
});

describe("invalid manifests", () => {
  it.each([
    // Types and fields
    [
      "wrong type for timeout",
      base(`${MODULE}\ntimeout: 30`),
      ["spec.timeout: must be a string, was number 30"],
    ],
    [
      "wrong type for scale.max",
      base(`${MODULE}\nscale: { max: "ten" }`),
      ['spec.scale.max: must be an integer, was "ten"'],
    ],
    [
      "a fractional replica count",
      base(`${MODULE}\nscale: { min: 1.5 }`),
      ["spec.scale.min: must be an integer, was number 1.5"],
    ],
    ["spec is a list", base("- a"), ["spec: must be an object, was a list"]],
    [
      "unknown mode",
      base("handler: { mode: lambda, entry: x.js }"),
      ['spec.handler.mode: must be one of module, http, exec (was "lambda")'],
    ],
    ["misspelt field", base(`${MODULE}\ntimout: 5s`), ["spec.timout: unknown field (did you mean timeout?)"]],
    ["unknown field with no near match", base(`${MODULE}\nreplicas: 3`), ["spec.replicas: unknown field"]],
    ["no handler", base("image: x"), ["spec.handler: is required"]],
    [
      "no spec",
      "apiVersion: flint.dev/v1alpha1\nkind: Function\nmetadata: { name: a }\n",
      ["spec: is required"],
    ],
    [
      "wrong apiVersion",
      base(MODULE).replace("flint.dev/v1alpha1", "flint.dev/v1"),
      ['apiVersion: must be flint.dev/v1alpha1 (was "flint.dev/v1")'],
    ],
    [
      "wrong kind",
      base(MODULE).replace("kind: Function", "kind: Deployment"),
      ['kind: must be Function (was "Deployment")'],
    ],
    ["not a mapping", "- just\n- a list\n", ["must be a mapping (object), was a list"]],
    // Durations
    [
      "negative timeout",
      base(`${MODULE}\ntimeout: -5s`),
      ["spec.timeout: must be a duration like 30s, 500ms or 1m30s"],
    ],
    ["zero timeout", base(`${MODULE}\ntimeout: 0s`), ["spec.timeout: must be more than 0s and at most 1h"]],
    [
      "timeout over an hour",
      base(`${MODULE}\ntimeout: 2h`),
      ["spec.timeout: must be more than 0s and at most 1h"],
    ],
    [
      "timeout without a unit",
      base(`${MODULE}\ntimeout: "30"`),
      ["spec.timeout: must be a duration like 30s, 500ms or 1m30s"],
    ],
    [
      "idle neither auto nor a duration",
      base(`${MODULE}\nscale: { idle: forever }`),
      ["spec.scale.idle: must be auto or a duration like 30s, 5m or 1h"],
    ],
    [
      "backoff initial above max",
      base(`${MODULE}\nasync: { backoff: { initial: 2m, max: 1m } }`),
      ["spec.async.backoff.initial: must be <= spec.async.backoff.max"],
    ],
    // Scale
    [
      "min > max",
      base(`${MODULE}\nscale: { min: 5, max: 2 }`),
      ["spec.scale.min: must be <= spec.scale.max (5 > 2)"],
    ],
    ["negative min", base(`${MODULE}\nscale: { min: -1 }`), ["spec.scale.min: must be >= 0 (was number -1)"]],
    ["max of zero", base(`${MODULE}\nscale: { max: 0 }`), ["spec.scale.max: must be >= 1 (was number 0)"]],
    [
      "target above the hard limit",
      base(`${MODULE}\nscale: { target: 10, concurrency: 4 }`),
      ["spec.scale.target: must be <= spec.scale.concurrency when a hard limit is set (10 > 4)"],
    ],
    [
      "retries out of range",
      base(`${MODULE}\nasync: { maxRetries: 1000 }`),
      ["spec.async.maxRetries: must be <= 100 (was number 1000)"],
    ],
    // Handler modes
    [
      "module mode without an entry",
      base("handler: { mode: module }"),
      ["spec.handler.entry: is required in module mode"],
    ],
    [
      "exec mode without a command (and no image)",
      base("handler: { mode: exec }"),
      ["spec.handler.command: is required in exec mode"],
    ],
    [
      "http mode with neither command nor image",
      base("handler: { mode: http }"),
      [
        "spec.handler.command: is required in http mode unless spec.image runs the server (the watchdog then proxies to it as a sidecar)",
      ],
    ],
    [
      "module-only fields in exec mode",
      base("handler: { mode: exec, command: [cat], entry: x.js }"),
      ["spec.handler: entry, shape and export apply only in module mode"],
    ],
    [
      "empty command",
      base("handler: { mode: exec, command: [] }"),
      ["spec.handler.command: must have at least 1 items"],
    ],
    [
      "port out of range",
      base("handler: { mode: http, command: [node], port: 70000 }"),
      ["spec.handler.port: must be <= 65535 (was number 70000)"],
    ],
    // Names
    [
      "uppercase name",
      base(MODULE, "name: Hello"),
      [
        "metadata.name: must be a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting with a letter and ending with a letter or digit (was \"Hello\")",
      ],
    ],
    [
      "name with an underscore",
      base(MODULE, "name: my_fn"),
      [expect.stringMatching(/^metadata\.name: must be a DNS-1123 label.*\(was "my_fn"\)$/)],
    ],
    [
      "64-character name",
      base(MODULE, `name: ${"a".repeat(64)}`),
      ["metadata.name: must be at most 63 characters (was 64)"],
    ],
    [
      "name starting with a digit",
      base(MODULE, "name: 1fn"),
      [expect.stringMatching(/^metadata\.name: must be a DNS-1123 label/)],
    ],
    ["no name", base(MODULE, "labels: {}"), ["metadata.name: is required"]],
    [
      "bad namespace",
      base(MODULE, "name: a\n  namespace: Team"),
      [expect.stringMatching(/^metadata\.namespace: must be a DNS-1123 label/)],
    ],
    [
      "bad secret name",
      base(`${MODULE}\nsecrets: [Db_Creds]`),
      ["spec.secrets[0]: must be a DNS-1123 subdomain: lowercase letters, digits, '-' and '.'"],
    ],
    [
      "bad quantity",
      base(`${MODULE}\nresources: { requests: { memory: lots } }`),
      ["spec.resources.requests.memory: must be a quantity like 64Mi, 1Gi or 500M"],
    ],
    // Env
    [
      "env name that is not an identifier",
      base(`${MODULE}\nenv: [{ name: 1BAD, value: x }]`),
      ["spec.env[0].name: must be a C identifier: letters, digits and '_', not starting with a digit"],
    ],
    [
      "reserved env name",
      base(`${MODULE}\nenv: [{ name: FLINT_MODE, value: x }]`),
      ["spec.env[0].name: must not start with FLINT_ (reserved for the watchdog's own settings)"],
    ],
    [
      "duplicate env name",
      base(`${MODULE}\nenv: [{ name: A, value: x }, { name: B }, { name: A, value: y }]`),
      ['spec.env[2].name: duplicate value "A"'],
    ],
    ["duplicate secret", base(`${MODULE}\nsecrets: [db, db]`), ['spec.secrets[1]: duplicate value "db"']],
    [
      "huge env: too many variables",
      base(`${MODULE}\nenv: [${Array.from({ length: 129 }, (_, i) => `{ name: V${i} }`).join(", ")}]`),
      ["spec.env: must have at most 128 items (was 129)"],
    ],
    [
      "huge env: a value too long",
      base(`${MODULE}\nenv: [{ name: BIG, value: "${"x".repeat(40_000)}" }]`),
      ["spec.env[0].value: must be at most 32768 characters (was 40000)"],
    ],
    // Several problems at once are all reported
    [
      "several errors",
      base("handler: { mode: module, entry: h.js }\ntimeout: 30\nscale: { min: -2, max: 0 }"),
      [
        "spec.timeout: must be a string, was number 30",
        "spec.scale.min: must be >= 0 (was number -2)",
        "spec.scale.max: must be >= 1 (was number 0)",
      ],
    ],
    [
      "schema and rule errors together",
      base("handler: { mode: exec }\ntimeout: 30"),
      ["spec.timeout: must be a string, was number 30", "spec.handler.command: is required in exec mode"],
    ],
    [
      "a type error does not also fail the rule that reads it",
      base(`${MODULE}\nscale: { min: "9", max: 2 }`),
      ['spec.scale.min: must be an integer, was "9"'],
    ],
  ])("%s", (_name, manifest, expected) => {
    expect(messages(manifest)).toEqual(expected);
  });
});

describe("hostile and malformed input", () => {
  it("rejects a YAML syntax error with its line", () => {
    expect(messages("apiVersion: flint.dev/v1alpha1\nkind: [Function\n")).toEqual([
      expect.stringMatching(/^cannot read YAML: line \d+, column \d+: /),
    ]);
  });

  it("rejects duplicate keys", () => {
    expect(messages(`${base(MODULE)}  timeout: 1s\n  timeout: 2s\n`)).toEqual([
      expect.stringMatching(/^cannot read YAML: .*[Mm]ap keys must be unique/),
    ]);
  });

  it("rejects a billion-laughs alias bomb without expanding it", () => {
    const levels = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
    for (let i = 1; i < 10; i++) {
      const prev = String.fromCharCode(96 + i);
      const name = String.fromCharCode(97 + i);
      levels.push(`${name}: &${name} [${Array(9).fill(`*${prev}`).join(",")}]`);
    }
    expect(messages(levels.join("\n"))).toEqual([
      `document expands too many YAML aliases (limit ${MANIFEST_LIMITS.maxAliasCount}); write the values out`,
    ]);
  });

  it("rejects deep nesting in YAML", () => {
    const deep = `${"[".repeat(1000)}${"]".repeat(1000)}`;
    expect(messages(deep)).toEqual([
      expect.stringMatching(/nested more than 32 levels deep|cannot read YAML/),
    ]);
  });

  it("rejects deep nesting inside an otherwise valid Function", () => {
    const nested = `${"{a: ".repeat(40)}1${"}".repeat(40)}`;
    expect(messages(base(`${MODULE}\nextra: ${nested}`))).toEqual([
      "document is nested more than 32 levels deep",
    ]);
  });

  it("rejects bytes that are not UTF-8, naming where", () => {
    const bytes = Buffer.concat([Buffer.from(base(MODULE)), Buffer.from([0x23, 0x20, 0xc3, 0x28, 0x0a])]);
    expect(messages(bytes)).toEqual([
      `manifest is not valid UTF-8: bad byte at offset ${bytes.length - 3} (line 7)`,
    ]);
  });

  it.each([
    ["overlong encoding", [0xc0, 0xaf]],
    ["UTF-16 surrogate", [0xed, 0xa0, 0x80]],
    ["beyond U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["truncated sequence", [0xe2, 0x82]],
  ])("rejects %s", (_name, tail) => {
    expect(messages(Buffer.concat([Buffer.from("a: 1\n"), Buffer.from(tail)]))).toEqual([
      "manifest is not valid UTF-8: bad byte at offset 5 (line 2)",
    ]);
  });

  it("accepts UTF-8 text in values", () => {
    expect(messages(Buffer.from(base(`${MODULE}\nenv: [{ name: G, value: "grüß dich, 世界 🌍" }]`)))).toEqual(
      [],
    );
  });

  it("rejects a manifest over the size limit before parsing it", () => {
    const huge = `# ${"x".repeat(MANIFEST_LIMITS.maxBytes)}\n${base(MODULE)}`;
    expect(messages(huge)).toEqual([expect.stringMatching(/^manifest is \d+ bytes; the limit is 1048576$/)]);
  });

  it("rejects an empty manifest", () => {
    expect(messages("# nothing here\n")).toEqual(["manifest is empty"]);
  });
});

describe("parseFunction", () => {
  it("throws ManifestInvalidError listing every problem, with the source", () => {
    const attempt = (): unknown =>
      parseFunction(base("handler: { mode: module }\ntimeout: 0s"), { source: "fn.yaml" });
    expect(attempt).toThrow(ManifestInvalidError);
    expect(attempt).toThrow(
      "fn.yaml: invalid Function manifest:\n  spec.handler.entry: is required in module mode\n  spec.timeout: must be more than 0s and at most 1h",
    );
  });

  it("wants exactly one document", () => {
    expect(() => parseFunction(`${base(MODULE)}---\n${base(MODULE)}`)).toThrow(
      "expected one Function, found 2 documents",
    );
  });
});

describe("the CRD's CEL rules", () => {
  it("all have an implementation in api/cel.ts", () => {
    expect(() => loadRules()).not.toThrow();
    expect([...loadRules().values()].reduce((n, site) => n + site.rules.length, 0)).toBeGreaterThanOrEqual(
      18,
    );
  });

  it("refuse a rule that has none", () => {
    expect(() => compileRule({ rule: "self.size() > 2", message: "x" })).toThrow(UnimplementedRuleError);
    expect(() => compileRule({ rule: "self.min <= self.max", messageExpression: "'x' + 'y'" })).toThrow(
      UnimplementedRuleError,
    );
  });

  it("evaluate self.matches(...) rules from their text", () => {
    const rule = compileRule({ rule: "self.matches('^a\\\\.b$')", message: "must be a.b" });
    expect([rule.check("a.b"), rule.check("axb"), rule.check(3)]).toEqual([true, false, false]);
  });
});
