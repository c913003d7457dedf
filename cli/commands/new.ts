// `flint new NAME --template T` and `flint templates`: a new function folder from a template.
import { resolve } from "node:path";

import { formatTable, outputFormat, parseCommandArgs, UsageError, type Command } from "../command.js";
import { listTemplates, scaffold } from "../templates.js";

/** The template `flint new` uses when none is named. */
const DEFAULT_TEMPLATE = "fetch";

export const newCommand: Command = {
  name: "new",
  summary: "create a function folder from a template (flint templates lists them)",
  usage: `usage: flint new NAME [--template T] [--dir PATH]

Creates the folder NAME (or PATH) with a function.yaml and the handler's code, from a template:
fetch (the default), lambda, express, exec-shell or exec-python; \`flint templates\` describes them.
Then \`flint up\` in the folder above it runs the function. The folder must not exist, or be empty.

Options:
  -t, --template T      the template (default ${DEFAULT_TEMPLATE})
  -d, --dir PATH        where to create it (default ./NAME)
  -h, --help            show this help
`,
  async run(args, io) {
    const { values, positionals } = parseCommandArgs(args, {
      template: { type: "string", short: "t" },
      dir: { type: "string", short: "d" },
      help: { type: "boolean", short: "h" },
    });
    if (values.help === true) {
      io.stdout.write(this.usage);
      return 0;
    }
    const [name, ...extra] = positionals;
    if (name === undefined || extra.length > 0) throw new UsageError("name exactly one function");
    const templates = await listTemplates();
    const wanted = values.template ?? DEFAULT_TEMPLATE;
    const template = templates.find((t) => t.name === wanted);
    if (template === undefined) {
      throw new UsageError(
        `no template ${JSON.stringify(wanted)}; the templates are ${templates.map((t) => t.name).join(", ")}`,
      );
    }
    const target = resolve(io.cwd, values.dir ?? name);
    const files = await scaffold(template, name, target);
    io.stdout.write(
      `Created ${name} from the ${template.name} template in ${target}:\n` +
        files.map((file) => `  ${file}\n`).join("") +
        nextSteps(template.name, name, values.dir ?? name),
    );
    return 0;
  },
};

function nextSteps(template: string, name: string, dir: string): string {
  const install = template === "express" ? `  (cd ${dir} && npm install)\n` : "";
  return (
    `Next:\n${install}  flint validate ${dir}/function.yaml\n  flint up ${dir}\n` +
    `  flint invoke ${name}   (in another terminal)\n`
  );
}

export const templatesCommand: Command = {
  name: "templates",
  summary: "list the templates flint new can start a function from",
  usage: `usage: flint templates [--output table|json]

Lists the templates \`flint new NAME --template T\` can use, with their handler mode.

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
    if (positionals.length > 0) throw new UsageError("flint templates takes no arguments");
    const format = outputFormat(values.output);
    const templates = await listTemplates();
    if (format === "json") {
      const items = templates.map(({ name, description }) => ({ name, description }));
      io.stdout.write(`${JSON.stringify({ items }, null, 2)}\n`);
      return 0;
    }
    io.stdout.write(
      formatTable(
        ["TEMPLATE", "DESCRIPTION"],
        templates.map((t) => [t.name, t.description]),
      ),
    );
    return 0;
  },
};
