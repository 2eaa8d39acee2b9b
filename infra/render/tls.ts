// Replication TLS (tls.enabled), the pure part: who gets which certificate with which subject and names, where
// the files live on the hosts, and the scripts that make a key on its host and install a signed certificate.
// The CA and the signing are in infra/providers/tlsCertificate.ts; the SQL (REQUIRE, MASTER_SSL_*) in dialect.ts.

import type { HostConfig, StackConfig } from "../config/types";
import { isDnsName } from "../config/checks";
import { ANY_HOST, type CertificateRequirement, type ReplicaTls } from "../replication/dialect";
import { PATHS } from "./common";
import { renderTemplate } from "./templates";
import { shq } from "../shell";

/**
 * What a host's certificate is good for: serving TLS (when it is the master) and logging in as a replica (when it
 * is a mirror). One certificate for both, so a switchover or failover swaps roles without signing anything.
 */
export const CERT_USAGE = "server+client";

/** One certificate the stack signs: one per host, for both of its roles. */
export interface CertPlan {
  readonly host: string;
  readonly usage: typeof CERT_USAGE;
  /** Distinguished name, OpenSSL's "/O=.../CN=..." form (what MariaDB/MySQL compare REQUIRE SUBJECT with). */
  readonly subject: string;
  /** subjectAltName entries ("DNS:db1", "IP:10.0.0.1"); replicas verify the master's address against them. */
  readonly sans: readonly string[];
  readonly keyPath: string;
  readonly certPath: string;
  readonly caPath: string;
}

// Every host's key and certificate have the same paths, whatever its role, so that neither its my.cnf (ssl_cert)
// nor its CHANGE MASTER (MASTER_SSL_CERT) changes in a switchover. They are named server.* because the master's
// my.cnf named them so before mirrors had one: an upgraded master keeps its settings and is not restarted.
// (A mirror set up before keeps its old client.key / client.pem, unused.)
export const TLS_FILES = {
  ca: `${PATHS.tlsDir}/ca.pem`,
  cert: `${PATHS.tlsDir}/server.pem`,
  key: `${PATHS.tlsDir}/server.key`,
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

/** A host's names and addresses as subjectAltNames: its name, the address replicas connect to, its bind address. */
export function hostSans(h: HostConfig): string[] {
  const out = [`DNS:${h.name}`, san(h.address)];
  const wildcard = ["0.0.0.0", "::", "*"].includes(h.bindAddress);
  if (!wildcard && h.bindAddress !== h.address) out.push(san(h.bindAddress));
  return [...new Set(out)];
}

/** Every certificate of the stack: one per host, master first. */
export function certPlans(cfg: StackConfig): CertPlan[] {
  return cfg.hosts.map((h): CertPlan => ({
    host: h.name,
    usage: CERT_USAGE,
    subject: hostSubject(cfg.stack, h.name),
    sans: hostSans(h),
    keyPath: TLS_FILES.key,
    certPath: TLS_FILES.cert,
    caPath: TLS_FILES.ca,
  }));
}

/** The server's TLS settings in its my.cnf (every host's: a promoted mirror serves TLS at once). */
export function serverTlsSettings(cfg: StackConfig): { ca: string; cert: string; key: string } | undefined {
  return cfg.tls.enabled ? { ca: TLS_FILES.ca, cert: TLS_FILES.cert, key: TLS_FILES.key } : undefined;
}

/** The host part of a replica's account: its address, or any address ('%') when it changes and TLS is on. */
export function accountHost(cfg: StackConfig, replica: HostConfig): string {
  return cfg.tls.enabled && replica.changingAddress ? ANY_HOST : replica.address;
}

/**
 * What a replica's replication uses with TLS on: its files, verification of the master, and what its account
 * requires. The same for any host that replicates (a mirror, or an old master after a switchover).
 */
export function replicationTls(cfg: StackConfig, replica: HostConfig): { replica: ReplicaTls; require: CertificateRequirement } | null {
  if (!cfg.tls.enabled) return null;
  return {
    replica: { caPath: TLS_FILES.ca, certPath: TLS_FILES.cert, keyPath: TLS_FILES.key, verifyServerCert: true },
    require: { subject: hostSubject(cfg.stack, replica.name), issuer: caSubject(cfg.stack) },
  };
}

/** The certificate files on a host whose expiry `mirrorctl status` checks (none with TLS off). */
export function certFilesOf(cfg: StackConfig, _host: HostConfig): { what: string; path: string }[] {
  if (!cfg.tls.enabled) return [];
  return [
    { what: "CA certificate", path: TLS_FILES.ca },
    { what: "host certificate", path: TLS_FILES.cert },
  ];
}

/**
 * A check run on a host before a switchover or failover: its certificate verifies against the stack's CA for
 * serving TLS at its address (serverAuth, SAN) and for logging in as a replica (clientAuth). Prints one line per
 * problem, nothing when it is fine. (A certificate from a version that gave only the master a server certificate
 * fails one of the two, until an `up` signs it again.)
 */
export function certCheckScript(h: HostConfig, files: { readonly ca: string; readonly cert: string } = TLS_FILES): string {
  const name = isDnsName(h.address) ? `-verify_hostname ${shq(h.address)}` : `-verify_ip ${shq(h.address)}`;
  return [
    `ca=${shq(files.ca)} cert=${shq(files.cert)}`,
    `if [ ! -r "$cert" ]; then echo "its certificate $cert is missing"; exit 0; fi`,
    `openssl verify -CAfile "$ca" -purpose sslserver ${name} "$cert" >/dev/null 2>&1 || echo "its certificate $cert does not verify against $ca for serving TLS (serverAuth) at ${h.address}"`,
    `openssl verify -CAfile "$ca" -purpose sslclient "$cert" >/dev/null 2>&1 || echo "its certificate $cert does not verify against $ca for logging in as a replica (clientAuth)"`,
    "",
  ].join("\n");
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
