// A .dockerignore matcher, as BuildKit applies one to a build context: patterns anchored at the
// context root, a pattern that matches a folder leaves out all below it, `!` re-includes, last match wins.

interface Rule {
  readonly exclude: boolean;
  readonly re: RegExp;
}

/** The rules of a .dockerignore text: comments and blank lines dropped, each line made a pattern. */
export function parseDockerignore(text: string): readonly Rule[] {
  const rules: Rule[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    const exclude = !line.startsWith("!");
    const pattern = cleanPattern(exclude ? line : line.slice(1).trim());
    if (pattern !== "") rules.push({ exclude, re: patternRegExp(pattern) });
  }
  return rules;
}

/** The patterns of a .dockerignore text in order, normalised: two files with the same list leave out the same. */
export function dockerignorePatterns(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== "" && !line.startsWith("#"));
}

/**
 * Whether `path` (relative to the context root, `/`-separated) is left out of the context. A rule
 * matches a path or any folder above it, as Docker skips a left-out folder's contents (moby's
 * `MatchesOrParentMatches`).
 */
export function isExcluded(rules: readonly Rule[], path: string): boolean {
  const segments = path.split("/");
  const candidates = segments.map((_, i) => segments.slice(0, i + 1).join("/"));
  let excluded = false;
  for (const rule of rules) {
    if (candidates.some((candidate) => rule.re.test(candidate))) excluded = rule.exclude;
  }
  return excluded;
}

/** Docker cleans each pattern like a path (filepath.Clean) and drops a leading `/`: all are anchored at the root. */
function cleanPattern(pattern: string): string {
  const kept: string[] = [];
  for (const segment of pattern.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") kept.pop();
    else kept.push(segment);
  }
  return kept.join("/");
}

/**
 * Go's filepath.Match syntax plus `**`: `*` any run within a segment, `?` one character, `[...]`
 * a class, `\` escapes, `**` any number of segments (`**\/` zero or more folders).
 */
function patternRegExp(pattern: string): RegExp {
  let re = "";
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i] as string;
    if (c === "*" && pattern[i + 1] === "*") {
      i += 1;
      if (pattern[i + 1] === "/") {
        i += 1;
        re += "(?:.*/)?";
      } else re += ".*";
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else if (c === "\\" && i + 1 < pattern.length) re += escape(pattern[++i] as string);
    else if (c === "[") {
      const end = pattern.indexOf("]", i + 1);
      if (end === -1) re += "\\[";
      else {
        const body = pattern.slice(i + 1, end).replace(/^\^/, "!");
        re += `[${body.startsWith("!") ? `^${body.slice(1)}` : body}]`;
        i = end;
      }
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}
