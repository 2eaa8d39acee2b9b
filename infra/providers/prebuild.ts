// Run by scripts/build-program.js after tsc, from dist/: writes each dynamic provider's serialized code to
// dist/providers/<id>.js, which compiled runs store with their resources instead of serializing (dynamic.ts).
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
  // Swapped whole: a run never reads one provider from this build and another from the last.
  fs.rmSync(PREBUILT_DIR, { recursive: true, force: true });
  fs.renameSync(tmp, PREBUILT_DIR);
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e instanceof Error ? e.message : e);
    process.exit(1);
  });
}
