// The JSON that `pulumi preview --json` prints, and the one view of it that the review report and the policy rules
// read. Pure: no engine, no files.
//
// What the engine puts in that JSON (checked against real previews of the lab, see test/fixtures/review/):
//  * `steps[]`: one per resource that changes (plus every unchanged one with --show-sames): `op`, `urn`,
//    `oldState` / `newState` with `inputs` (and `outputs` for the old state), `replaceReasons` for replaces.
//    Our dynamic providers return no detailed diff, so `detailedDiff` is null: the report compares old and new
//    values itself.
//  * secret values are the string "[secret]" (the engine masks them before printing); a value the engine only
//    knows during `up` is the unknown sentinel below.
//  * `diagnostics[]`: `{message, severity, urn?}`; a failed preview has at least one `severity: "error"`.

/** What the engine prints for a value that is known only during `up`. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";
/** What `preview --json` prints for a secret value. */
export const SECRET_TEXT = "[secret]";
/** The signature key/value of a serialized secret (the engine's wire form; never expected in preview JSON). */
const SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export type Props = Record<string, unknown>;

export interface StateDigest {
  readonly urn?: string;
  readonly type?: string;
  readonly id?: string;
  readonly inputs?: Props;
  readonly outputs?: Props;
  readonly parent?: string;
  readonly additionalSecretOutputs?: readonly string[];
}

export interface StepDigest {
  readonly op: string;
  readonly urn: string;
  readonly oldState?: StateDigest | null;
  readonly newState?: StateDigest | null;
  readonly replaceReasons?: readonly string[] | null;
  readonly detailedDiff?: unknown;
}

export interface Diagnostic {
  readonly message: string;
  readonly severity?: string;
  readonly urn?: string;
}

export interface PreviewDoc {
  readonly config?: Record<string, string>;
  readonly steps: readonly StepDigest[];
  readonly diagnostics?: readonly Diagnostic[];
  readonly changeSummary?: Record<string, number>;
  readonly policyPacks?: unknown;
}

/** True for a value the engine marks as secret. */
export function isSecretValue(v: unknown): boolean {
  if (v === SECRET_TEXT) return true;
  return v !== null && typeof v === "object" && (v as Record<string, unknown>)[SIG_KEY] === SECRET_SIG;
}

/** True for a value known only during `up` (anywhere inside it). */
export function hasUnknown(v: unknown): boolean {
  if (v === UNKNOWN) return true;
  if (Array.isArray(v)) return v.some(hasUnknown);
  if (v !== null && typeof v === "object") return Object.values(v).some(hasUnknown);
  return false;
}

/** Parses the engine's JSON output; throws with a short reason when it is not a preview document. */
export function parsePreviewJson(text: string): PreviewDoc {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new Error(`the engine printed no JSON preview (${(e as Error).message})`);
  }
  if (doc === null || typeof doc !== "object" || Array.isArray(doc)) throw new Error("the engine's JSON is not an object");
  const d = doc as Record<string, unknown>;
  if (d.steps !== undefined && !Array.isArray(d.steps)) throw new Error("the engine's JSON has no list of steps");
  return { ...(d as object), steps: (d.steps as StepDigest[] | undefined) ?? [] } as PreviewDoc;
}

/** Short resource kinds the report and the policy rules know. */
export type Kind = "HostFile" | "RemoteCommand" | "MirrorReplication" | "HostProbe" | "TlsCertificate" | "MasterRole" | "Stack" | "Component" | "Other";

/** `urn:pulumi:<stack>::<project>::<parent$type>::<name>` -> parts. */
export function parseUrn(urn: string): { stack: string; project: string; type: string; name: string } {
  const m = /^urn:pulumi:([^:]*)::([^:]*)::(.*)::([^:]*)$/.exec(urn);
  if (!m) return { stack: "", project: "", type: "", name: urn };
  const qualified = m[3]!;
  return { stack: m[1]!, project: m[2]!, type: qualified.slice(qualified.lastIndexOf("$") + 1), name: m[4]! };
}

export function kindOf(type: string): Kind {
  const dyn = /^pulumi-nodejs:dynamic\/mirrorstack:(\w+)$/.exec(type);
  if (dyn) {
    const k = dyn[1]!;
    if (k === "HostFile" || k === "RemoteCommand" || k === "MirrorReplication" || k === "HostProbe" || k === "TlsCertificate" || k === "MasterRole") return k;
    return "Other";
  }
  if (type === "pulumi:pulumi:Stack") return "Stack";
  if (type.startsWith("mirrorstack:")) return "Component";
  return "Other";
}

/** One resource as it is now (`before`) and as it would be after `up` (`after`). */
export interface ResourceChange {
  readonly op: string;
  readonly urn: string;
  readonly name: string;
  readonly type: string;
  readonly kind: Kind;
  /** Recorded values (outputs, else inputs); undefined for a new resource. */
  readonly before?: Props;
  /** Values after `up` (new inputs); undefined for a deleted resource. */
  readonly after?: Props;
  /** Properties that are secret on either side (additionalSecretOutputs, or a masked value). */
  readonly secretKeys: ReadonlySet<string>;
  readonly replaceReasons: readonly string[];
}

function secretKeysOf(...states: (StateDigest | null | undefined)[]): Set<string> {
  const keys = new Set<string>();
  for (const s of states) {
    if (!s) continue;
    for (const k of s.additionalSecretOutputs ?? []) keys.add(k);
    for (const props of [s.inputs, s.outputs]) {
      for (const [k, v] of Object.entries(props ?? {})) if (containsSecret(v)) keys.add(k);
    }
  }
  return keys;
}

function containsSecret(v: unknown): boolean {
  if (isSecretValue(v)) return true;
  if (Array.isArray(v)) return v.some(containsSecret);
  if (v !== null && typeof v === "object") return Object.values(v).some(containsSecret);
  return false;
}

/** Ops after which the resource still exists. */
const LIVE_OPS = new Set(["same", "create", "update", "replace", "create-replacement", "import", "import-replacement", "read", "refresh"]);
/** Ops that change nothing on a host. */
export const NO_CHANGE_OPS = new Set(["same", "read", "refresh", "discard", "discard-replaced", "remove-pending-replace"]);

export function resourceChanges(doc: PreviewDoc): ResourceChange[] {
  const out: ResourceChange[] = [];
  const seen = new Set<string>();
  for (const s of doc.steps) {
    // A replace can show up as replace + create-replacement + delete-replaced: keep the first.
    const key = s.urn;
    if (seen.has(key) && (s.op === "create-replacement" || s.op === "delete-replaced")) continue;
    seen.add(key);
    const type = s.newState?.type ?? s.oldState?.type ?? parseUrn(s.urn).type;
    const old = s.oldState ?? undefined;
    const before = old ? (old.outputs && Object.keys(old.outputs).length > 0 ? old.outputs : old.inputs) : undefined;
    const after = s.op === "delete" || s.op === "delete-replaced" ? undefined : (s.newState?.inputs ?? undefined);
    out.push({
      op: s.op,
      urn: s.urn,
      name: parseUrn(s.urn).name,
      type,
      kind: kindOf(type),
      ...(before ? { before } : {}),
      ...(after ? { after } : {}),
      secretKeys: secretKeysOf(s.oldState, s.newState),
      replaceReasons: s.replaceReasons ?? [],
    });
  }
  return out;
}

/** A resource as the policy rules see it: its inputs after `up`. */
export interface PolicyResource {
  readonly urn: string;
  readonly name: string;
  readonly type: string;
  readonly props: Props;
  /** Properties whose value is secret. */
  readonly secretKeys: ReadonlySet<string>;
}

/** Every resource that exists after `up`, with its new inputs (needs --show-sames for the unchanged ones). */
export function resourcesAfterUp(doc: PreviewDoc): PolicyResource[] {
  return resourceChanges(doc)
    .filter((r) => LIVE_OPS.has(r.op) && r.after !== undefined)
    .map((r) => ({ urn: r.urn, name: r.name, type: r.type, props: r.after!, secretKeys: r.secretKeys }));
}

/** The stack name a preview is about (from its URNs). */
export function stackOf(doc: PreviewDoc): string | undefined {
  for (const s of doc.steps) {
    const st = parseUrn(s.urn).stack;
    if (st) return st;
  }
  return undefined;
}

/**
 * The preview without what a reviewer never needs and what makes it large: the serialized provider source
 * (`__provider`), stack traces and source positions. Used to store fixtures and CI artifacts.
 */
export function trimPreview(doc: PreviewDoc): PreviewDoc {
  const trimState = (s: StateDigest | null | undefined) => {
    if (!s) return s;
    const { stackTrace: _t, sourcePosition: _p, propertyDependencies: _d, ...rest } = s as StateDigest & Record<string, unknown>;
    const strip = (p?: Props) => {
      if (!p) return p;
      const { __provider: prov, ...kept } = p;
      return prov === undefined ? kept : { __provider: "(provider source omitted)", ...kept };
    };
    return { ...rest, ...(s.inputs ? { inputs: strip(s.inputs) } : {}), ...(s.outputs ? { outputs: strip(s.outputs) } : {}) };
  };
  return {
    ...doc,
    steps: doc.steps.map((s) => ({
      ...s,
      ...(s.oldState !== undefined ? { oldState: trimState(s.oldState) } : {}),
      ...(s.newState !== undefined ? { newState: trimState(s.newState) } : {}),
    })),
  } as PreviewDoc;
}
