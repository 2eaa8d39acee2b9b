// Run by scripts/build-program.js after tsc, from dist/: writes each dynamic provider's serialized code to
// dist/providers/<id>.js, which the resources of compiled runs refer to instead of carrying it (dynamic.ts).
import * as fs from "node:fs";
import * as path from "node:path";
import type { ResourceProvider } from "@pulumi/pulumi/dynamic";
import { PREBUILT_DIR, serializeProvider, type ProviderId } from "./dynamic";
import { hostFileProvider } from "./hostFile";
import { hostProbeProvider } from "./hostProbe";
import { masterRoleProvider } from "./masterRole";
import { replicationProvider } from "./mirrorReplication";
import { remoteCommandProvider } from "./remoteCommand";
import { tlsProvider } from "./tlsCertificate";

export const PROVIDERS: Record<ProviderId, ResourceProvider> = {
  HostFile: hostFileProvider,
  RemoteCommand: remoteCommandProvider,
  MirrorReplication: replicationProvider,
  HostProbe: hostProbeProvider,
  TlsCertificate: tlsProvider,
  MasterRole: masterRoleProvider,
};

async function main(): Promise<void> {
  const tmp = `${PREBUILT_DIR}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  for (const [id, provider] of Object.entries(PROVIDERS)) {
    fs.writeFileSync(path.join(tmp, `${id}.js`), await serializeProvider(id as ProviderId, provider));
  }
  // Each file replaced by a rename: a provider host of a run going on meanwhile (another stack's) reads the whole
  // old or the whole new file of a provider, never none or half of one.
  fs.mkdirSync(PREBUILT_DIR, { recursive: true });
  for (const f of fs.readdirSync(tmp)) fs.renameSync(path.join(tmp, f), path.join(PREBUILT_DIR, f));
  fs.rmSync(tmp, { recursive: true, force: true });
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
