// What other Pulumi programs import: `import { SiteMirror } from "mirrorstack"` (package.json "exports" maps the
// package to this module, compiled to dist/infra/lib.js; its types come from this source). Pulumi runs
// mirrorstack's own program from Pulumi.yaml's `main` (infra/main.js), which this does not change.
export {
  SiteMirror,
  validateSiteMirrorArgs,
  type SiteMirrorArgs,
  type SiteMirrorBackups,
  type SiteMirrorFileSync,
  type SiteMirrorHost,
  type SiteMirrorReplication,
} from "./components/siteMirror";
/** The stack config's input shape (SiteMirrorArgs' keys without the secrets' Pulumi inputs), and its parsed form. */
export type { StackInput } from "./config/schema";
export type { StackConfig } from "./config/types";
