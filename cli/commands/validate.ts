// `flint validate FILE...`: checks Function manifests offline with the same rules as the cluster.
import { resolve } from "node:path";

import { formatFieldError, functionKey, parseManifestFile, type FieldError } from "../../api/index.js";
import { outputFormat, parseCommandArgs, UsageError, type Command } from "../command.js";

interface DocumentReport {
  file: string;
  /** Position of the document in its file, from 1. */
  document: number;
  valid: boolean;
  function?: string;
  errors: FieldError[];
}

export const validateCommand: Command = {
  name: "validate",
  summary: "check Function manifests offline, printing each error with its field path",
  usage: `usage: flint validate [--output table|json] FILE...

Checks each Function manifest (YAML or JSON; several documents per file allowed) against the
Function schema and rules, the same ones the Kubernetes API server applies. Prints every error
with its field path. Exit status: 0 when every file is valid, 1 when any is invalid, 2 on bad usage.

Options:
  -o, --output FORMAT   table (default) or json
  -h, --help            show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      output: { type: "string", short: "o" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const format = outputFormat(values.output);
    if (positionals.length === 0) throw new UsageError("name at least one manifest file");

    const reports: DocumentReport[] = [];
    for (const file of positionals) {
      // Read with the size bound applied while reading; one file's hostile content is that file's
      // report, never the end of the run.
      const results = await parseManifestFile(resolve(io.cwd, file));
      results.forEach((result, index) => {
        reports.push(
          result.ok
            ? {
                file,
                document: index + 1,
                valid: true,
                function: functionKey(result.value.metadata),
                errors: [],
              }
            : { file, document: index + 1, valid: false, errors: result.errors },
        );
      });
    }

    if (format === "json") {
      io.stdout.write(JSON.stringify(reports, null, 2) + "\n");
    } else {
      for (const report of reports) {
        const where = report.document > 1 ? `${report.file} (document ${report.document})` : report.file;
        if (report.valid) {
          io.stdout.write(`${where}: ok (${report.function})\n`);
        } else {
          io.stdout.write(`${where}: invalid\n`);
          for (const error of report.errors) io.stdout.write(`  ${formatFieldError(error)}\n`);
        }
      }
    }
    return reports.every((r) => r.valid) ? 0 : 1;
  },
};
