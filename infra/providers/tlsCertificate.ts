import * as pulumi from "../pulumi";
import { connectViaSsh } from "../replication/connect";
import { dialect, type DbEngine } from "../replication/dialect";
import { normalizeReplicaStatus, ReplicationNotConfiguredError } from "../replication/status";
import { remoteFailure, sshRun, type SshTarget } from "../ssh/exec";
import { MirrorstackDynamicResource } from "./dynamic";

// Replication TLS (tls.enabled): the stack's CA and the certificates it signs, as one dynamic provider with two
// kinds of resource.
//
//   kind "ca"    made once on the machine running Pulumi with its `openssl`: the CA key is an output held as a
//                Pulumi secret (additionalSecretOutputs: encrypted in the state), the CA certificate is public.
//   kind "cert"  signs a host's CSR (its key was made on the host and never leaves it: HostProbe <host>-tls-key)
//                for both of the host's roles (serverAuth and clientAuth, its names and addresses as SANs),
//                installs the certificate and the CA certificate on the host, then makes them live whatever the
//                host's role: a server that serves TLS reloads its files (FLUSH SSL, no restart), and running
//                replica threads restart (a client certificate is read when the IO thread connects). diff() signs
//                again when the certificate expires within renewBeforeDays, so an ordinary `pulumi up` renews it.
//
// The CA key reaches openssl only through a 0600 file in a fresh 0700 directory, removed right after; never argv.

const DAY_MS = 86_400_000;

/** Plain inputs of the CA after Pulumi resolved them. */
export interface TlsCaState {
  readonly kind: "ca";
  readonly subject: string;
  readonly validityDays: number;
  readonly keyPem?: string;
  readonly certPem?: string;
  readonly notAfter?: string;
}

/** Plain inputs of a certificate after Pulumi resolved them. */
export interface TlsCertState {
  readonly kind: "cert";
  readonly target: SshTarget;
  /** PEM certificate signing request made on the host for its own key. */
  readonly csr: string;
  readonly subject: string;
  readonly sans: readonly string[];
  /** "server+client" (CERT_USAGE); a state from before every host had one certificate says "server" or "client". */
  readonly usage: string;
  readonly validityDays: number;
  readonly renewBeforeDays: number;
  readonly caKeyPem?: string;
  readonly caCertPem: string;
  /** Bash script that installs the certificate and the CA certificate (PEM on stdin) on the host. */
  readonly installScript: string;
  readonly engine: DbEngine;
  readonly certPem?: string;
  readonly notAfter?: string;
  readonly serial?: string;
}

type State = TlsCaState | TlsCertState;

/** Runs openssl with `args` (paths and public values only) in `dir`; stdin as given; throws with its stderr. */
function openssl(args: string[], opts: { cwd: string; input?: string }): string {
  const cp = require("child_process") as typeof import("child_process");
  const r = cp.spawnSync("openssl", args, { cwd: opts.cwd, input: opts.input ?? "", encoding: "utf8" });
  if (r.error) throw new Error(`openssl could not run on this machine: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`openssl ${args[0]} failed (exit ${r.status}): ${(r.stderr ?? "").trim().slice(-1000)}`);
  return r.stdout;
}

/** A private 0700 directory for one signing, removed afterwards whatever happens. */
function withTempDir<T>(fn: (dir: string) => T): T {
  const fs = require("fs") as typeof import("fs");
  const os = require("os") as typeof import("os");
  const path = require("path") as typeof import("path");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mirrorstack-tls-"));
  try {
    fs.chmodSync(dir, 0o700);
    return fn(dir);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

function writePrivate(file: string, text: string): void {
  const fs = require("fs") as typeof import("fs");
  fs.writeFileSync(file, text, { mode: 0o600 });
}

/** notAfter of a PEM certificate, as an ISO date. */
function notAfterOf(pem: string): string {
  const crypto = require("crypto") as typeof import("crypto");
  return new Date(new crypto.X509Certificate(pem).validTo).toISOString();
}

function serialOf(pem: string): string {
  const crypto = require("crypto") as typeof import("crypto");
  return new crypto.X509Certificate(pem).serialNumber;
}

function makeCa(s: TlsCaState): { keyPem: string; certPem: string } {
  return withTempDir((dir) => {
    const keyPem = openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:3072"], { cwd: dir });
    writePrivate(`${dir}/ca.key`, keyPem);
    const certPem = openssl(
      ["req", "-x509", "-new", "-sha256", "-key", "ca.key", "-subj", s.subject, "-days", String(s.validityDays),
        "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0", "-addext", "keyUsage=critical,keyCertSign,cRLSign"],
      { cwd: dir },
    );
    return { keyPem, certPem };
  });
}

/** Signs the host's CSR with the CA (exported for its unit test). */
export function sign(s: TlsCertState): string {
  if (!s.caKeyPem) throw new Error("internal: the CA key was not passed to the certificate");
  return withTempDir((dir) => {
    const fs = require("fs") as typeof import("fs");
    const crypto = require("crypto") as typeof import("crypto");
    fs.writeFileSync(`${dir}/host.csr`, s.csr);
    // The CSR must be signed by the key it carries (made on the host); its subject is replaced by ours.
    openssl(["req", "-in", "host.csr", "-noout", "-verify"], { cwd: dir });
    fs.writeFileSync(`${dir}/ca.pem`, s.caCertPem);
    writePrivate(`${dir}/ca.key`, s.caKeyPem!);
    fs.writeFileSync(
      `${dir}/ext.cnf`,
      [
        "[v3]",
        "basicConstraints = critical, CA:FALSE",
        "keyUsage = critical, digitalSignature, keyEncipherment",
        "extendedKeyUsage = serverAuth, clientAuth",
        `subjectAltName = ${s.sans.join(", ")}`,
        "subjectKeyIdentifier = hash",
        "authorityKeyIdentifier = keyid",
        "",
      ].join("\n"),
    );
    // A random positive 127-bit serial (RFC 5280: unique per CA, at most 20 octets).
    const serial = "0x4" + crypto.randomBytes(16).toString("hex").slice(1);
    return openssl(
      ["x509", "-req", "-sha256", "-in", "host.csr", "-subj", s.subject, "-CA", "ca.pem", "-CAkey", "ca.key", "-set_serial", serial,
        "-days", String(s.validityDays), "-extfile", "ext.cnf", "-extensions", "v3"],
      { cwd: dir },
    );
  });
}

/** Puts the certificate on the host and makes it live (see the top of the file). */
async function install(s: TlsCertState, certPem: string): Promise<void> {
  const r = await sshRun(s.target, s.installScript, certPem + s.caCertPem);
  if (r.code !== 0) throw remoteFailure(s.target.host, "installing the TLS certificate", r);
  const d = dialect(s.engine);
  const db = await connectViaSsh(s.target);
  try {
    // A server that does not serve TLS yet (a mirror before its my.cnf names the files) reads them when it starts.
    const [tls] = await db.query(d.serverTlsFiles());
    if (d.features.flavour === "mysql" || String(tls?.ssl_cert ?? "") !== "") await db.query(d.reloadServerTls());
    let running = false;
    try {
      const st = normalizeReplicaStatus(await db.query(d.showReplicaStatus()), s.target.host);
      running = st.ioRunning || st.ioConnecting || st.sqlRunning;
    } catch (e) {
      if (!(e instanceof ReplicationNotConfiguredError)) throw e; // not seeded yet: nothing to restart
    }
    if (running) {
      await db.query(d.stopReplica());
      await db.query(d.startReplica());
    }
  } finally {
    await db.close();
  }
}

async function issue(s: TlsCertState): Promise<Record<string, unknown>> {
  const certPem = sign(s);
  await install(s, certPem);
  // The CA key stays an input (a secret there); it is not repeated in the outputs.
  const { caKeyPem: _key, ...rest } = s;
  return { ...rest, certPem, notAfter: notAfterOf(certPem), serial: serialOf(certPem) };
}

export const tlsProvider: pulumi.dynamic.ResourceProvider = {
  async diff(_id: string, olds: State, news: State) {
    if (news.kind === "ca" || olds.kind === "ca") {
      const replaces = olds.kind !== news.kind || olds.subject !== news.subject ? ["subject"] : [];
      return { changes: replaces.length > 0, replaces, deleteBeforeReplace: false };
    }
    const o = olds as TlsCertState;
    const replaces = o.target?.host !== news.target.host ? ["target"] : [];
    // Renewal: inside the window an ordinary `up` signs the same key again (validityDays alone signs nothing).
    const expiring = o.notAfter === undefined || Date.parse(o.notAfter) - Date.now() < news.renewBeforeDays * DAY_MS;
    const changed =
      o.csr !== news.csr ||
      o.subject !== news.subject ||
      JSON.stringify(o.sans) !== JSON.stringify(news.sans) ||
      o.usage !== news.usage ||
      o.caCertPem !== news.caCertPem ||
      o.installScript !== news.installScript ||
      o.target?.address !== news.target.address;
    return { changes: replaces.length > 0 || expiring || changed, replaces, deleteBeforeReplace: true };
  },
  async create(inputs: State) {
    if (inputs.kind === "ca") {
      const { keyPem, certPem } = makeCa(inputs);
      return { id: `ca:${Date.now().toString(36)}`, outs: { ...inputs, keyPem, certPem, notAfter: notAfterOf(certPem) } };
    }
    return { id: `${inputs.target.host}:tls`, outs: await issue(inputs) };
  },
  async update(_id: string, olds: State, news: State) {
    if (news.kind === "ca") return { outs: { ...olds, ...news } };
    return { outs: await issue(news) };
  },
  async delete() {
    // The files go with the host's key probe (tls-remove); the CA key goes with the state.
  },
};

/** The stack's CA (one per stack). */
export class TlsCa extends MirrorstackDynamicResource {
  /** PEM CA certificate (public). */
  public readonly certPem!: pulumi.Output<string>;
  /** PEM CA private key: a secret. */
  public readonly keyPem!: pulumi.Output<string>;
  public readonly notAfter!: pulumi.Output<string>;

  constructor(name: string, args: { subject: pulumi.Input<string>; validityDays: pulumi.Input<number> }, opts?: pulumi.CustomResourceOptions) {
    super("TlsCertificate", tlsProvider, name, { kind: "ca", ...args, keyPem: undefined, certPem: undefined, notAfter: undefined }, {
      ...opts,
      additionalSecretOutputs: ["keyPem"],
    });
  }
}

/** Inputs of a TlsCertificate. */
export type TlsCertificateArgs = { readonly [K in Exclude<keyof TlsCertState, "kind" | "certPem" | "notAfter" | "serial">]-?: pulumi.Input<NonNullable<TlsCertState[K]>> };

/** One host's certificate, signed by the stack's CA, installed and live on the host. */
export class TlsCertificate extends MirrorstackDynamicResource {
  public readonly certPem!: pulumi.Output<string>;
  /** When the certificate expires (ISO date). */
  public readonly notAfter!: pulumi.Output<string>;
  public readonly serial!: pulumi.Output<string>;

  constructor(name: string, args: TlsCertificateArgs, opts?: pulumi.CustomResourceOptions) {
    super("TlsCertificate", tlsProvider, name, { kind: "cert", ...args, certPem: undefined, notAfter: undefined, serial: undefined }, {
      ...opts,
      additionalSecretOutputs: ["caKeyPem"],
    });
  }
}
