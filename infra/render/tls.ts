// Replication TLS (tls.enabled), the pure part: who gets which certificate with which subject and names, where
// the files live on the hosts, and the scripts that make a key on its host and install a signed certificate.
// The CA and the signing are in infra/providers/tlsCertificate.ts; the SQL (REQUIRE, MASTER_SSL_*) in dialect.ts.

import type { HostConfig, StackConfig } from "../config/types";
import { isDnsName } from "../config/checks";
import { ANY_HOST, type CertificateRequirement, type ReplicaTls } from "../replication/dialect";
import { PATHS } from "./common";
import { renderTemplate } from "./templates";

/** One certificate the stack signs: the master's server certificate or a mirror's client certificate. */
export interface CertPlan {
  readonly host: string;
  readonly usage: "server" | "client";
  /** Distinguished name, OpenSSL's "/O=.../CN=..." form (what MariaDB/MySQL compare REQUIRE SUBJECT with). */
  readonly subject: string;
  /** subjectAltName entries ("DNS:master", "IP:10.0.0.1"); the mirrors verify the master's address against them. */
  readonly sans: readonly string[];
  readonly keyPath: string;
  readonly certPath: string;
  readonly caPath: string;
}

export const TLS_FILES = {
  ca: `${PATHS.tlsDir}/ca.pem`,
  serverCert: `${PATHS.tlsDir}/server.pem`,
  serverKey: `${PATHS.tlsDir}/server.key`,
  clientCert: `${PATHS.tlsDir}/client.pem`,
  clientKey: `${PATHS.tlsDir}/client.key`,
} as const;

/** The stack's CA: one per stack (stack names are [A-Za-z0-9_.-]). */
export function caSubject(stack: string): string {
  return `/O=mirrorstack/OU=${stack}/CN=mirrorstack replication CA`;
}

/** A host's certificate subject: the host name is the identity (host names are unique in a stack). */
export function hostSubject(stack: string, host: string): string {
  return `/O=mirrorstack/OU=${stack}/CN=${host}`;
}

function san(address: string): string {
  return isDnsName(address) ? `DNS:${address}` : `IP:${address}`;
}

/** The master's names and addresses as subjectAltNames: its name, the address mirrors connect to, its bind address. */
export function masterSans(master: HostConfig): string[] {
  const out = [`DNS:${master.name}`, san(master.address)];
  const wildcard = ["0.0.0.0", "::", "*"].includes(master.bindAddress);
  if (!wildcard && master.bindAddress !== master.address) out.push(san(master.bindAddress));
  return [...new Set(out)];
}

/** Every certificate of the stack: the master's server certificate, then one client certificate per mirror. */
export function certPlans(cfg: StackConfig): CertPlan[] {
  const m = cfg.master;
  return [
    { host: m.name, usage: "server", subject: hostSubject(cfg.stack, m.name), sans: masterSans(m), keyPath: TLS_FILES.serverKey, certPath: TLS_FILES.serverCert, caPath: TLS_FILES.ca },
    ...cfg.mirrors.map((h): CertPlan => ({
      host: h.name,
      usage: "client",
      subject: hostSubject(cfg.stack, h.name),
      sans: [`DNS:${h.name}`],
      keyPath: TLS_FILES.clientKey,
      certPath: TLS_FILES.clientCert,
      caPath: TLS_FILES.ca,
    })),
  ];
}

/** The host part of a mirror's replication account: its address, or any address ('%') when it changes and TLS is on. */
export function accountHost(cfg: StackConfig, mirror: HostConfig): string {
  return cfg.tls.enabled && mirror.changingAddress ? ANY_HOST : mirror.address;
}

/** What the mirror's replication uses with TLS on: its files, verification of the master, and what its account requires. */
export function replicationTls(cfg: StackConfig, mirror: HostConfig): { replica: ReplicaTls; require: CertificateRequirement } | null {
  if (!cfg.tls.enabled) return null;
  return {
    replica: { caPath: TLS_FILES.ca, certPath: TLS_FILES.clientCert, keyPath: TLS_FILES.clientKey, verifyServerCert: true },
    require: { subject: hostSubject(cfg.stack, mirror.name), issuer: caSubject(cfg.stack) },
  };
}

/** The certificate files on a host whose expiry `mirrorctl status` checks (none with TLS off). */
export function certFilesOf(cfg: StackConfig, host: HostConfig): { what: string; path: string }[] {
  if (!cfg.tls.enabled) return [];
  return [
    { what: "CA certificate", path: TLS_FILES.ca },
    host.role === "master" ? { what: "server certificate", path: TLS_FILES.serverCert } : { what: "client certificate", path: TLS_FILES.clientCert },
  ];
}

/** HostProbe script: the host's key (made once, there) and a CSR for it on stdout. */
export function tlsKeyScript(c: CertPlan): string {
  return renderTemplate("steps/tls-key.sh.hbs", { host: c.host, dir: PATHS.tlsDir, key: c.keyPath, subject: c.subject });
}

/** Installs the signed certificate and the CA certificate (both PEM, on stdin). */
export function tlsInstallScript(c: CertPlan): string {
  return renderTemplate("steps/tls-install.sh.hbs", { host: c.host, dir: PATHS.tlsDir, cert: c.certPath, ca: c.caPath });
}

/** Destroy of the key probe: the host's TLS directory goes. */
export function tlsRemoveScript(): string {
  return renderTemplate("steps/tls-remove.sh.hbs", { dir: PATHS.tlsDir });
}
