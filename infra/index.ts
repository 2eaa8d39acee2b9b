// mirrorstack's own Pulumi program: the stack config (the `mirrorstack:*` keys) -> one SiteMirror
// (infra/components/siteMirror.ts, which validates, renders and applies) -> its outputs as the stack's outputs.
import * as pulumi from "./pulumi";
import { ConfigError, type ConfigIssue, namespaceIssues, parseStackConfig } from "./config";
import { SiteMirror, type SiteMirrorArgs } from "./components/siteMirror";

const NS = "mirrorstack";
const stack = pulumi.getStack();

// Every `mirrorstack:*` key of the stack, plus which ones Pulumi holds as secrets.
function readConfig(): { raw: Record<string, unknown>; secretKeys: Set<string> } {
  const raw: Record<string, unknown> = {};
  const secretKeys = new Set<string>();
  for (const [k, v] of Object.entries(pulumi.allConfig())) {
    if (!k.startsWith(`${NS}:`)) continue;
    const key = k.slice(NS.length + 1);
    raw[key] = v;
    if (pulumi.isConfigSecret(k)) secretKeys.add(key);
  }
  return { raw, secretKeys };
}

// What only the stack's config source can get wrong, checked with everything else, all at once, before any
// resource exists: a key in a misspelt namespace (`mirrorstak:backups`) would be ignored and its defaults
// deployed, and a secret set without --secret sits in clear text in the stack file. The SiteMirror then checks
// its args again (the same parse, which passes), as it does for any program that makes one.
function validate(raw: Record<string, unknown>, secretKeys: ReadonlySet<string>): void {
  const misspelt = namespaceIssues(Object.keys(pulumi.allConfig()));
  const invalid = (issues: ConfigIssue[]) =>
    new pulumi.RunError(`stack ${stack} has an invalid config:\n  ${issues.map((i) => `${i.path}: ${i.message}`).join("\n  ")}`);
  try {
    parseStackConfig(raw, { stack, secretKeys });
  } catch (e) {
    if (e instanceof ConfigError) throw invalid([...misspelt, ...e.issues]);
    throw e;
  }
  if (misspelt.length > 0) throw invalid(misspelt);
}

const { raw, secretKeys } = readConfig();
validate(raw, secretKeys);

// Pulumi passes object and list keys as JSON text, which the SiteMirror's parse decodes (as validate's did).
// The secrets go in as the plain values Pulumi decrypted, so the component checks them before any resource;
// it keeps them secret.
const site = new SiteMirror("site", raw as unknown as SiteMirrorArgs);

// What `mirrorctl` and reviews read.
export const hosts = site.hosts;
export const replication = site.replication;
export const fileSync = site.fileSync;
export const backups = site.backups;
export const tls = site.tls;
