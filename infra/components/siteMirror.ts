// SiteMirror: the whole site mirror (a MariaDB/MySQL master, its mirrors, file mirroring, backups) as one Pulumi
// component, so another Pulumi program can add one next to its own resources. infra/index.ts is the thin program
// that makes one from a stack config. validate -> render -> apply, each step one block below.
//
// Children keep the names they had when infra/index.ts made them at the top level (`<host>-...`, `files`,
// `backup-push`, `<mirror>-replication`): the component's own name is in none of them, and each top-level child
// carries an alias to the root stack, from which the engine derives its children's aliases, so a stack made
// before the component existed sees no replacement.

import * as path from "path";
import * as pulumi from "../pulumi";
import { ConfigError, type ConfigIssue, NAMESPACE, parseStackConfig, SECRET_KEYS, SECRET_PLACEHOLDER, type SecretKey, type StackConfig } from "../config";
import type { StackInput } from "../config/schema";
import { HostProbe } from "../providers/hostProbe";
import type { RemoteCommand } from "../providers/remoteCommand";
import { MirrorReplication } from "../providers/mirrorReplication";
import { MasterRole } from "../providers/masterRole";
import { TlsCa, TlsCertificate } from "../providers/tlsCertificate";
import { renderStack } from "../render";
import { nfsServerServices, seedScripts, siteAccountScripts } from "../render/scripts";
import { webUser } from "../render/web";
import { accountHost, caSubject, certPlans, replicationTls, tlsInstallScript, tlsKeyScript, tlsRemoveScript } from "../render/tls";
import type { RenderSecrets } from "../render/types";
import type { SshTarget } from "../ssh/exec";
import { BackupPush } from "./backupPush";
import { FileMirroring, sharesNfs } from "./files";
import { MirrorHost } from "./mirrorHost";
import type { OsFamily } from "./services";
import { type SoftwareNeeds, softwareFor } from "./software";
import * as fs from "fs";

/**
 * The running program's Pulumi project directory: the nearest directory at or above the working directory that
 * holds a Pulumi.yaml. (The SDK's getRootDirectory() is no help here: under the language host this project builds
 * it returns the placeholder "rootDirectory".)
 */
export function projectDir(start = process.cwd()): string {
  for (let d = start; ; d = path.dirname(d)) {
    if (fs.existsSync(path.join(d, "Pulumi.yaml")) || fs.existsSync(path.join(d, "Pulumi.yml"))) return d;
    if (path.dirname(d) === d) return start;
  }
}

/**
 * What a SiteMirror provisions: the keys of a mirrorstack stack config (the zod schema in infra/config/schema.ts;
 * every key, its format and its default: docs/config.md), with the secrets as Pulumi inputs. Each key below
 * carries its schema description.
 */
export interface SiteMirrorArgs {
  /** The master host (the database and files mirrors copy from). */
  readonly master: StackInput["master"];
  /** The mirror hosts. */
  readonly mirrors: StackInput["mirrors"];
  /** How Pulumi reaches the hosts over SSH. */
  readonly ssh?: StackInput["ssh"];
  /** The replicated database server. */
  readonly database: StackInput["database"];
  /** File tree mirroring. */
  readonly files?: StackInput["files"];
  /** NFS settings; used (and allowed) only when files.method is nfs. */
  readonly nfs?: StackInput["nfs"];
  /** Schedules of the jobs mirrorstack installs. */
  readonly cron?: StackInput["cron"];
  /** Scheduled backups. */
  readonly backups?: StackInput["backups"];
  /** Health check thresholds. */
  readonly health?: StackInput["health"];
  /** The site served from the hosts marked web: true. */
  readonly web?: StackInput["web"];
  /** Encrypted, certificate-authenticated replication. */
  readonly tls?: StackInput["tls"];
  /** SECRET: password of the replication user, 16 to 32 characters. Kept secret whether given plain or as a secret Output. */
  readonly replicationPassword: pulumi.Input<string>;
  /** SECRET: passphrase that encrypts backups; required when backups.enabled. */
  readonly backupPassphrase?: pulumi.Input<string>;
  /** SECRET: SSH private key (PEM/OpenSSH text), alternative to ssh.privateKeyPath. */
  readonly sshPrivateKey?: pulumi.Input<string>;
}

/** One host of the site mirror, as the `hosts` output lists it. */
export interface SiteMirrorHost {
  readonly name: string;
  readonly role: "master" | "mirror";
  readonly address: string;
  /** The files mirrorstack manages on the host. */
  readonly files: string[];
}

/** Replication of one mirror, as the `replication` output lists it (what `mirrorctl` reads). */
export interface SiteMirrorReplication {
  readonly mirror: string;
  readonly seed: Record<string, unknown>;
  readonly status: Record<string, unknown>;
  /** The last time it joined a master by GTID instead of a copy (or was copied because it could not), and why. */
  readonly joined?: Record<string, unknown>;
}

/** One certificate of the stack's replication TLS, as the `tls` output lists it (what `mirrorctl` reads). */
export interface SiteMirrorCertificate {
  readonly host: string;
  readonly subject: string;
  readonly notAfter: string;
}

/** How the mirrors get the files, and the mirrors' sync public keys (rsync-ssh). */
export interface SiteMirrorFileSync {
  readonly method: "rsync-ssh" | "nfs" | "none";
  readonly mirrorKeys: Record<string, string>;
}

/** Which host takes the backups, and where they are pushed (with the taker's public push key). */
export interface SiteMirrorBackups {
  readonly host: string | null;
  readonly pushedTo: { readonly name: string; readonly address: string; readonly takerKey: string } | null;
}

/** Where the component meets its args' values: plain strings as given, secrets that are Outputs by a placeholder. */
function parseInput(args: SiteMirrorArgs): Record<string, unknown> {
  const raw: Record<string, unknown> = { ...args };
  for (const k of SECRET_KEYS) {
    const v = args[k];
    // A secret known only later (an Output, a Promise) is checked by value once it resolves (checkedSecrets).
    if (v !== undefined && typeof v !== "string") raw[k] = SECRET_PLACEHOLDER;
  }
  return raw;
}

/** The args' problems, one line each, named by key path (`database.databases`, `mirrors[0].name`). */
function invalid(name: string, stack: string, issues: readonly ConfigIssue[]): pulumi.RunError {
  const key = (p: string) => (p.startsWith(`${NAMESPACE}:`) ? p.slice(NAMESPACE.length + 1) : p);
  return new pulumi.RunError(
    `site mirror ${name} (stack ${stack}) has invalid args:\n  ${issues.map((i) => `${key(i.path)}: ${i.message}`).join("\n  ")}`,
  );
}

/**
 * Validates SiteMirror args as the constructor does, every problem at once: the StackConfig, or a RunError
 * naming each key. The secrets count as set with --secret (the component keeps them secret).
 */
export function validateSiteMirrorArgs(name: string, args: SiteMirrorArgs, stack = pulumi.getStack()): StackConfig {
  try {
    return parseStackConfig(parseInput(args), { stack, secretKeys: new Set(SECRET_KEYS) });
  } catch (e) {
    if (e instanceof ConfigError) throw invalid(name, stack, e.issues);
    throw e;
  }
}

/**
 * The secrets as secret Outputs. One given as an Output is checked by value (the same rules) once it resolves;
 * each on its own, so one not known in a preview leaves the others known. (Exported for its test.)
 */
export function checkedSecrets(name: string, args: SiteMirrorArgs, stack: string): Partial<Record<SecretKey, pulumi.Output<string>>> {
  const out: Partial<Record<SecretKey, pulumi.Output<string>>> = {};
  for (const k of SECRET_KEYS) {
    const v = args[k];
    if (v === undefined) continue;
    out[k] = pulumi.secret(
      typeof v === "string"
        ? v
        : pulumi.output(v).apply((value) => {
            validateSiteMirrorArgs(name, { ...args, [k]: value }, stack);
            return value;
          }),
    );
  }
  return out;
}

/**
 * A MariaDB/MySQL site mirror provisioned over SSH: the master and each mirror (packages, my.cnf, jobs), file
 * mirroring (rsync-ssh or nfs), replication per mirror, and backups (optionally pushed to a backup host).
 *
 *     const site = new SiteMirror("site", { master: {...}, mirrors: [...], database: { databases: ["wiki"] },
 *       replicationPassword: config.requireSecret("replicationPassword"), ... });
 *
 * The args are validated, every problem at once, before any resource is made.
 */
export class SiteMirror extends pulumi.ComponentResource {
  /** Each host: name, role, address and the files mirrorstack manages there. */
  public readonly hosts: pulumi.Output<SiteMirrorHost[]>;
  /** Each mirror's replication: how it was seeded and its last status. */
  public readonly replication: pulumi.Output<SiteMirrorReplication[]>;
  /** How the mirrors get the files, and their sync public keys. */
  public readonly fileSync: pulumi.Output<SiteMirrorFileSync>;
  /** The backup-taking host and where its backups are pushed. */
  public readonly backups: pulumi.Output<SiteMirrorBackups>;
  /** Replication TLS: the CA's and each host's certificate with its expiry (empty with tls.enabled false). */
  public readonly tls: pulumi.Output<SiteMirrorCertificate[]>;

  constructor(name: string, args: SiteMirrorArgs, opts?: pulumi.ComponentResourceOptions) {
    // 1. validate: all problems at once, before any resource exists, so a bad config touches no host.
    const stack = pulumi.getStack();
    const cfg = validateSiteMirrorArgs(name, args, stack);
    super("mirrorstack:index:SiteMirror", name, {}, opts);
    for (const w of cfg.warnings) pulumi.log.warn(w, this);
    const secretValues = checkedSecrets(name, args, stack);

    // Made at the top level of the program before this component existed: the alias keeps their state.
    const child = { parent: this, aliases: [{ parent: pulumi.rootStackResource }] };

    // 2. render: pure, once. File structure never depends on secret values, so we render with placeholders (what
    // previews show); the files that hold a secret, or the mirrors' sync keys, carry their renderer's completion,
    // which the component applying them calls with the real values inside Outputs.
    const secrets: pulumi.Output<RenderSecrets> = pulumi
      .all([secretValues.replicationPassword, secretValues.backupPassphrase])
      .apply(([replicationPassword, backupPassphrase]) => ({
        replicationPassword: replicationPassword ?? "",
        backupPassphrase: backupPassphrase ?? "",
      }));
    const plans = renderStack(cfg, { stack, secrets: { replicationPassword: SECRET_PLACEHOLDER, backupPassphrase: SECRET_PLACEHOLDER } });

    // 3. apply: one component per host; hosts are independent, so the engine works them in parallel.
    const sshKey = secretValues.sshPrivateKey;
    const targetFor = (host: string): pulumi.Input<SshTarget> => {
      const h = cfg.hosts.find((x) => x.name === host) ?? (cfg.backups.push?.name === host ? cfg.backups.push : undefined);
      if (!h) throw new Error(`internal: no host ${host}`);
      // Relative paths are relative to the Pulumi project of the running program (where its Pulumi.yaml is): for
      // mirrorstack's own stacks this repository, for another program its own directory, not wherever mirrorstack
      // is installed. Not the working directory: the engine runs a program whose Pulumi.yaml names a `main` in a
      // subdirectory (mirrorstack's infra/main.js) from that subdirectory.
      const abs = (p?: string) => (p ? path.resolve(projectDir(), p) : undefined);
      const base: SshTarget = {
        host: h.name,
        address: h.address,
        user: h.sshUser,
        port: h.sshPort,
        privateKeyPath: abs(cfg.ssh.privateKeyPath),
        knownHostsPath: abs(cfg.ssh.knownHostsPath),
      };
      return sshKey ? pulumi.secret(sshKey.apply((k) => ({ ...base, privateKey: k }))) : base;
    };

    // NFS server services start once their files are written, in FileMirroring, which reports one that cannot run.
    const withoutNfsServices = (sw: SoftwareNeeds, os: OsFamily): SoftwareNeeds => {
      const nfs = Object.values(nfsServerServices(os));
      return { ...sw, services: sw.services.filter((s) => !nfs.includes(s)) };
    };

    // Replication TLS: the stack's CA (its key a Pulumi secret), each host's key made on the host (a CSR is all
    // that leaves it), signed here for both roles (a switchover signs nothing) and installed after the host's
    // software step and before its files (its my.cnf names them); a renewed certificate is made live without a
    // restart. An `up` inside tls.renewBeforeDays of a certificate's expiry signs it again.
    const certs: Record<string, TlsCertificate> = {};
    const certList: pulumi.Output<SiteMirrorCertificate>[] = [];
    const ca = cfg.tls.enabled ? new TlsCa("tls-ca", { subject: caSubject(stack), validityDays: cfg.tls.caValidityDays }, child) : undefined;
    if (ca) certList.push(ca.notAfter.apply((notAfter) => ({ host: "(CA)", subject: caSubject(stack), notAfter })));
    const tlsFor = (host: string) => (software: RemoteCommand): pulumi.Resource[] => {
      const c = ca ? certPlans(cfg).find((p) => p.host === host) : undefined;
      if (!ca || !c) return [];
      const key = new HostProbe(
        `${c.host}-tls-key`,
        { target: targetFor(c.host), what: "TLS certificate signing request", script: tlsKeyScript(c), delete: tlsRemoveScript() },
        { ...child, dependsOn: [software] },
      );
      const cert = new TlsCertificate(
        `${c.host}-tls-cert`,
        {
          target: targetFor(c.host),
          csr: key.value,
          subject: c.subject,
          sans: [...c.sans],
          usage: c.usage,
          validityDays: cfg.tls.validityDays,
          renewBeforeDays: cfg.tls.renewBeforeDays,
          caKeyPem: ca.keyPem,
          caCertPem: ca.certPem,
          installScript: tlsInstallScript(c),
          engine: { flavour: cfg.database.flavour, version: cfg.database.version },
        },
        { ...child, dependsOn: [software] },
      );
      certs[c.host] = cert;
      certList.push(cert.notAfter.apply((notAfter) => ({ host: c.host, subject: c.subject, notAfter })));
      return [cert];
    };

    // Which host is the master. Another name than in the last run is a switchover, run before any host changes:
    // every host's first step waits for it.
    const masterRole = new MasterRole(
      "master-role",
      {
        master: cfg.master.name,
        stack,
        cfg,
        targets: Object.fromEntries(cfg.hosts.map((h) => [h.name, targetFor(h.name)])),
        password: secretValues.replicationPassword!,
      },
      child,
    );

    const fileMethod = sharesNfs(cfg) ? "nfs" : cfg.files.trees.length === 0 ? "none" : cfg.files.method;
    const hostComponents: Record<string, MirrorHost> = {};
    const hosts = plans.map((plan): SiteMirrorHost => {
      const h = cfg.hosts.find((x) => x.name === plan.host)!;
      // Each file says who applies it: this host's step, or FileMirroring below (after the mirrors' keys exist).
      hostComponents[plan.host] = new MirrorHost(
        plan.host,
        {
          plan,
          target: targetFor(plan.host),
          stack,
          osFamily: h.osFamily,
          software: withoutNfsServices(softwareFor(plan.role, h.osFamily, cfg.database.flavour, fileMethod, h.web ? cfg.web.server : undefined), h.osFamily),
          secrets,
          ...(h.web
            ? { siteAccount: siteAccountScripts({ role: h.role, flavour: cfg.database.flavour, user: webUser(h.osFamily, cfg.web.server), database: cfg.web.database }) }
            : {}),
          beforeFiles: tlsFor(plan.host),
          after: [masterRole],
        },
        child,
      );
      return { name: plan.host, role: plan.role, address: plan.address, files: plan.files.map((f) => f.path) };
    });

    // File mirroring. rsync-ssh: each mirror's own sync key, the master's locked sync account behind validate-rsync,
    // the pinned master host key and the scheduled pull. nfs: the server's files, then the server itself, then the
    // mirrors' mounts. Nothing here touches a database server.
    const files = new FileMirroring("files", { cfg, stack, plans, target: targetFor, hosts: hostComponents }, child);

    // Backups pushed to a separate host: the taker's own key, the backup host's locked receiving account behind
    // its store-only command, the pinned host key, and a check that the key really gets through.
    const backupPush = cfg.backups.enabled && cfg.backups.push
      ? new BackupPush(
          "backup-push",
          {
            cfg,
            stack,
            takerTarget: targetFor(cfg.backups.host),
            backupTarget: targetFor(cfg.backups.push.name),
            taker: hostComponents[cfg.backups.host]!,
          },
          child,
        )
      : undefined;

    // Replication, per mirror, once both ends run with their rendered my.cnf: account, consistent copy, start,
    // caught-up proof. Adding mirror N+1 creates only its own resource; no other host is touched.
    const replicationPassword = secretValues.replicationPassword!;
    // Every replication waits for every host, so mirrors new in this run start their seeds together and share one
    // copy of the master (the seed's batch); the copy goes from the master to the mirrors, not through this machine.
    const allHosts = Object.values(hostComponents);
    const scripts = seedScripts({ kind: cfg.database.seedMethod, flavour: cfg.database.flavour, databases: cfg.database.databases, compression: cfg.database.seedCompression });
    const replication = cfg.mirrors.map((m) => {
      const r = new MirrorReplication(
        `${m.name}-replication`,
        {
          master: targetFor(cfg.master.name),
          mirror: targetFor(m.name),
          sourceHost: cfg.master.address,
          sourcePort: cfg.database.port,
          mirrorAddress: accountHost(cfg, m),
          tls: replicationTls(cfg, m),
          engine: { flavour: cfg.database.flavour, version: cfg.database.version },
          user: cfg.database.replicationUser,
          password: replicationPassword,
          databases: [...cfg.database.databases],
          method: cfg.database.seedMethod,
          catchUpTimeoutSeconds: cfg.database.catchUpTimeoutSeconds,
          seedToken: m.reseed,
          scripts,
          batchSize: cfg.mirrors.length,
        },
        { ...child, dependsOn: [...allHosts, ...Object.values(certs)], additionalSecretOutputs: ["password"] },
      );
      return pulumi.all([r.seed, r.status, r.joined]).apply(([seed, status, joined]): SiteMirrorReplication => ({ mirror: m.name, seed, status, ...(joined ? { joined } : {}) }));
    });

    // 4. outputs: what `mirrorctl` and reviews read (infra/index.ts exports them as the stack's outputs).
    this.hosts = pulumi.output(hosts);
    this.replication = pulumi.all(replication);
    this.fileSync = files.mirrorKeys.apply((mirrorKeys): SiteMirrorFileSync => ({ method: fileMethod, mirrorKeys }));
    const push = cfg.backups.push;
    this.backups = backupPush && push
      ? backupPush.takerKey.apply((takerKey): SiteMirrorBackups => ({ host: cfg.backups.host, pushedTo: { name: push.name, address: push.address, takerKey } }))
      : pulumi.output<SiteMirrorBackups>({ host: cfg.backups.enabled ? cfg.backups.host : null, pushedTo: null });
    this.tls = pulumi.all(certList);
    this.registerOutputs({ hosts: this.hosts, replication: this.replication, fileSync: this.fileSync, backups: this.backups, tls: this.tls });
  }
}
