// Validates AsyncAPI documents with the official parser: `node validate.mjs FILE...`.
// Exit 0 when every document parses without errors, 1 otherwise (diagnostics printed).
import { readFile } from "node:fs/promises";
import { Parser, DiagnosticSeverity } from "@asyncapi/parser";

const parser = new Parser();
let failed = false;
for (const file of process.argv.slice(2)) {
  const { document, diagnostics } = await parser.parse(await readFile(file, "utf8"), { source: file });
  const errors = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Error);
  const warnings = diagnostics.filter((d) => d.severity === DiagnosticSeverity.Warning);
  for (const d of [...errors, ...warnings]) {
    const where = d.path.join("/");
    console.log(`${file}: ${d.severity === DiagnosticSeverity.Error ? "error" : "warning"}: ${d.code}: ${d.message} at /${where}`);
  }
  if (!document || errors.length > 0) {
    failed = true;
    continue;
  }
  const channels = document.channels().length;
  const operations = document.operations().length;
  const messages = document.components().messages().length;
  console.log(`${file}: valid AsyncAPI ${document.version()} (${channels} channels, ${operations} operations, ${messages} messages, ${warnings.length} warnings)`);
}
process.exit(failed ? 1 : 0);
