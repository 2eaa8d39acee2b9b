// mirrorctl status, web hosts (web: true): fetches web.checkPath and web.checkFile from each web host over HTTP,
// as a visitor would, and compares the mirrored file with the master's copy.

import type { StackConfig } from "../config/types";
import type { HealthLevel } from "../replication/status";

/** What one web host answered. */
export interface WebCheck {
  /** The page (web.checkPath): HTTP status, or the error that kept it from answering. */
  readonly page: { readonly url: string; readonly status: number | null; readonly error?: string };
  /** The mirrored file (web.checkFile), when configured: status and whether its bytes equal the master's. */
  readonly file?: { readonly url: string; readonly status: number | null; readonly sameAsMaster: boolean | null; readonly error?: string };
}

/** GET http://<address><path> with the site's Host; resolves to status and body, or the error. */
export function httpGet(address: string, host: string, path: string, timeoutMs = 10_000): Promise<{ status: number | null; body: Buffer; error?: string }> {
  const http = require("http") as typeof import("http");
  return new Promise((resolve) => {
    // One connection per check, closed after it: a status run leaves no connection open on the site's servers.
    const req = http.get({ host: address, port: 80, path, headers: { Host: host, Connection: "close" }, agent: false, timeout: timeoutMs }, (res) => {
      const parts: Buffer[] = [];
      res.on("data", (b: Buffer) => parts.push(b));
      res.on("end", () => resolve({ status: res.statusCode ?? null, body: Buffer.concat(parts) }));
      res.on("error", (e) => resolve({ status: null, body: Buffer.alloc(0), error: e.message }));
    });
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs / 1000} s`)));
    req.on("error", (e) => resolve({ status: null, body: Buffer.alloc(0), error: e.message }));
  });
}

/** Every web host's check, by host name; the master's file is the reference for the mirrors'. */
export async function checkWebHosts(cfg: StackConfig): Promise<Map<string, WebCheck>> {
  const web = cfg.web;
  const hosts = cfg.hosts.filter((h) => h.web);
  const out = new Map<string, WebCheck>();
  if (hosts.length === 0) return out;
  const urlOf = (address: string, path: string) => `http://${address.includes(":") ? `[${address}]` : address}${path}`;
  const reference = web.checkFile ? await httpGet(cfg.master.address, web.serverName ?? cfg.master.address, web.checkFile) : undefined;
  await Promise.all(
    hosts.map(async (h) => {
      const name = web.serverName ?? h.address;
      const page = await httpGet(h.address, name, web.checkPath);
      let file: WebCheck["file"];
      if (web.checkFile) {
        const f = h.role === "master" && reference ? reference : await httpGet(h.address, name, web.checkFile);
        const same = reference?.status === 200 && f.status === 200 ? f.body.equals(reference.body) : null;
        file = { url: urlOf(h.address, web.checkFile), status: f.status, sameAsMaster: same, ...(f.error ? { error: f.error } : {}) };
      }
      out.set(h.name, { page: { url: urlOf(h.address, web.checkPath), status: page.status, ...(page.error ? { error: page.error } : {}) }, ...(file ? { file } : {}) });
    }),
  );
  return out;
}

/** A web host's check as a level and reasons: no answer or not 200 is CRITICAL, a file unlike the master's WARNING. */
export function judgeWeb(c: WebCheck, role: "master" | "mirror"): { level: HealthLevel; reasons: string[] } {
  const reasons: string[] = [];
  let level: HealthLevel = "OK";
  const bad = (what: string, r: { url: string; status: number | null; error?: string }) => {
    level = "CRITICAL";
    reasons.push(`web: ${what} ${r.url} ${r.status === null ? `did not answer (${r.error ?? "no response"})` : `answered HTTP ${r.status}`}`);
  };
  if (c.page.status !== 200) bad("page", c.page);
  if (c.file && c.file.status !== 200) bad("mirrored file", c.file);
  else if (c.file && role === "mirror" && c.file.sameAsMaster === false) {
    if (level === "OK") level = "WARNING";
    reasons.push(`web: ${c.file.url} differs from the master's copy (file sync behind?)`);
  }
  return { level, reasons };
}

/** The WEB cell of the status table. */
export function webCell(c: WebCheck | undefined): string {
  if (!c) return "-";
  const page = `${c.page.status ?? "no answer"} ${new URL(c.page.url).pathname}`;
  if (!c.file) return page;
  const f = c.file.status !== 200 ? `${c.file.status ?? "no answer"}` : c.file.sameAsMaster === false ? "differs" : "ok";
  return `${page}\nfile ${f}`;
}
