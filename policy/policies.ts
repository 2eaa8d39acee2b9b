// mirrorstack's policies for @pulumi/policy: each rule of infra/review/rules.ts as a stack validation, so the
// pack and `npm run review` apply exactly the same checks. Importing this file starts nothing (index.ts serves
// the pack); tests call these policies directly.

import * as path from "node:path";
import type {
  Policies,
  PolicyResource as PackResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
import { loadPolicyContext, type PolicyContext } from "../infra/review/context";
import { parseUrn, UNKNOWN, type PolicyResource } from "../infra/review/preview";
import { RULES, type Violation } from "../infra/review/rules";

/** The repository root: stack configs are read from here (Pulumi.yaml's stackConfigDir). */
export const PROJECT_ROOT = path.resolve(__dirname, "..");

/**
 * A plain copy of the inputs the pack received. @pulumi/policy hands out a proxy that throws when a value is
 * known only during `up` (a whole stack check would then be skipped); here such a value becomes the engine's
 * unknown sentinel, which the rules treat as "not judged yet".
 */
export function plainProps(v: unknown): unknown {
  if (v === null || typeof v !== "object") return v;
  if (Array.isArray(v)) {
    const out: unknown[] = [];
    for (let i = 0; i < v.length; i++) {
      try {
        out.push(plainProps(v[i]));
      } catch {
        out.push(UNKNOWN);
      }
    }
    return out;
  }
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v)) {
    try {
      out[k] = plainProps((v as Record<string, unknown>)[k]);
    } catch {
      out[k] = UNKNOWN;
    }
  }
  return out;
}

/** A resource of the pack as the rules see it. */
export function fromPack(r: Pick<PackResource, "urn" | "name" | "type" | "props"> & { opts?: { additionalSecretOutputs?: string[] } }): PolicyResource {
  return {
    urn: r.urn,
    name: r.name,
    type: r.type,
    props: plainProps(r.props) as Record<string, unknown>,
    secretKeys: new Set(r.opts?.additionalSecretOutputs ?? []),
  };
}

/** One line per violation: the rule's message, then the config key, as `pulumi preview` prints it. */
export function violationText(v: Violation): string {
  return `${v.message} [host: ${v.host || "-"}; config key: ${v.key}]`;
}

export interface PolicyOptions {
  /** The context of a stack (default: read from the project's stack config file). */
  readonly context?: (stack: string) => PolicyContext;
}

/** Name of the pack's first policy, which only records inputs (see mirrorstackPolicies). */
export const RECORDER = "record-new-inputs";

/**
 * The mirrorstack policies: one recorder, then one mandatory stack policy per rule.
 *
 * Why the recorder: the engine hands a stack policy the resources as it holds them, and for a resource whose
 * provider diff saw no change (a "same" step) that is the state recorded by the last `up`, not the inputs of this
 * run. A config change our providers' diff ignores (e.g. a new ssh.privateKeyPath: the target's host did not
 * change) would then go unjudged. The engine does call resource policies with every resource's new inputs, in
 * the same pack process and before the stack policies, so the recorder keeps those and the rules read them.
 */
export function mirrorstackPolicies(opts: PolicyOptions = {}): Policies {
  const contextFor = opts.context ?? ((stack: string) => loadPolicyContext(PROJECT_ROOT, stack));
  // One context per run of the pack (every policy of one preview reads the same stack).
  const cache = new Map<string, PolicyContext>();
  const newInputs = new Map<string, PolicyResource>();
  const recorder: ResourceValidationPolicy = {
    name: RECORDER,
    description: "Records each resource's new inputs for the mirrorstack rules (reports nothing).",
    enforcementLevel: "advisory",
    validateResource: (args: ResourceValidationArgs) => {
      newInputs.set(args.urn, fromPack(args));
    },
  };
  const rules: StackValidationPolicy[] = RULES.map((rule) => ({
    name: rule.name,
    description: rule.description,
    enforcementLevel: "mandatory" as const,
    validateStack: (args: StackValidationArgs, report: ReportViolation) => {
      const resources = args.resources.map((r) => newInputs.get(r.urn) ?? fromPack(r));
      const stack = resources.map((r) => parseUrn(r.urn).stack).find((s) => s !== "") ?? "";
      let ctx = cache.get(stack);
      if (!ctx) {
        ctx = contextFor(stack);
        cache.set(stack, ctx);
      }
      for (const v of rule.check(resources, ctx)) report(violationText(v), v.urn);
    },
  }));
  return [recorder, ...rules];
}
