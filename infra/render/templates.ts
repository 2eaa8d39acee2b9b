// Loads and compiles the handlebars templates in templates/. Compiled with {strict: true, noEscape: true}:
// a missing field throws, nothing is HTML-escaped. Strict mode does not check helper arguments or `{{#if}}`
// conditions at the top level, so every helper below throws on a missing value, and each template's context is
// a typed object that always carries every field (booleans rather than absent keys).

import { readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import Handlebars from "handlebars";
import { PROJECT_ROOT } from "../paths";
import { shq } from "../shell";

export const TEMPLATE_DIR = resolve(PROJECT_ROOT, "templates");

const hb = Handlebars.create();
// Built-in helpers that a bare {{name}} would silently call instead of failing as a missing field.
hb.unregisterHelper("log");
hb.unregisterHelper("lookup");

function need(v: unknown, helper: string): string {
  if (v === undefined || v === null) throw new Error(`template helper ${helper}: missing value`);
  if (typeof v !== "string" && typeof v !== "number") throw new Error(`template helper ${helper}: expected a string or number`);
  return String(v);
}

// {{sh value}}: the value as one shell word.
hb.registerHelper("sh", (v: unknown) => shq(need(v, "sh")));
// {{join list ", "}}: list items joined by a separator.
hb.registerHelper("join", (list: unknown, sep: unknown) => {
  if (!Array.isArray(list)) throw new Error("template helper join: expected a list");
  return list.map((x) => need(x, "join")).join(need(sep, "join"));
});
// {{shwords list}}: each item single-quoted, separated by spaces.
hb.registerHelper("shwords", (list: unknown) => {
  if (!Array.isArray(list)) throw new Error("template helper shwords: expected a list");
  return list.map((x) => shq(need(x, "shwords"))).join(" ");
});

interface Node {
  type: string;
  path?: { original?: unknown };
  params?: { type: string; original?: unknown; parts?: string[]; depth?: number }[];
  program?: { body: Node[] };
  inverse?: { body: Node[] };
}

/**
 * Names used as `{{#if x}}` / `{{#unless x}}` conditions in the template's own context (not inside #each/#with),
 * which strict mode does not check: renderTemplate requires the context to carry each of them.
 */
function conditionFields(body: readonly Node[], out: Set<string>): Set<string> {
  for (const n of body) {
    if (n.type !== "BlockStatement") continue;
    const helper = n.path?.original;
    if (helper === "if" || helper === "unless") {
      const p = n.params?.[0];
      if (p?.type === "PathExpression" && p.depth === 0 && p.parts && p.parts.length > 0) out.add(p.parts[0]!);
      conditionFields(n.program?.body ?? [], out);
      conditionFields(n.inverse?.body ?? [], out);
    }
  }
  return out;
}

interface Compiled {
  run: Handlebars.TemplateDelegate;
  conditions: ReadonlySet<string>;
}

const cache = new Map<string, Compiled>();

/** Shared fragments of several templates, `{{> name}}` for templates/partials/<name>.sh.hbs (one home each). */
export const PARTIAL_DIR = resolve(TEMPLATE_DIR, "partials");
let partialsLoaded = false;

function loadPartials(): void {
  if (partialsLoaded) return;
  for (const f of readdirSync(PARTIAL_DIR)) {
    if (f.endsWith(".hbs")) hb.registerPartial(f.replace(/(\.sh)?\.hbs$/, ""), readFileSync(resolve(PARTIAL_DIR, f), "utf8"));
  }
  partialsLoaded = true;
}

/** The text of templates/partials/<name>.sh.hbs, for a script built elsewhere that needs the same shell functions. */
export function renderPartial(name: string): string {
  loadPartials();
  return hb.compile(`{{> ${name}}}`, { strict: true, noEscape: true })({});
}

/** Renders templates/<name> with the given context. */
export function renderTemplate(name: string, context: object): string {
  let t = cache.get(name);
  if (!t) {
    loadPartials();
    const src = readFileSync(resolve(TEMPLATE_DIR, name), "utf8");
    const ast = hb.parse(src) as unknown as { body: Node[] };
    t = { run: hb.compile(src, { strict: true, noEscape: true }), conditions: conditionFields(ast.body, new Set()) };
    cache.set(name, t);
  }
  for (const field of t.conditions) {
    if (!(field in context)) throw new Error(`template ${name}: condition field "${field}" is missing from the context`);
  }
  const out = t.run(context);
  return out.endsWith("\n") ? out : `${out}\n`;
}
