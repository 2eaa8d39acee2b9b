import * as pulumi from "../pulumi";
import { HostFile } from "../providers/hostFile";
import { RemoteCommand } from "../providers/remoteCommand";
import { ensureSoftwareScript } from "../render/scripts";
import type { HostPlan, RenderSecrets } from "../render/types";
import { SshTarget } from "../ssh/exec";
import { actionWords, OsFamily } from "./services";
import type { SoftwareNeeds } from "./software";

/** Inputs of a MirrorHost. */
export interface MirrorHostArgs {
  /** Files rendered for this host; it applies those marked appliedBy "host" (secret ones completed: `secrets`). */
  readonly plan: HostPlan;
  /** How to reach the host. */
  readonly target: pulumi.Input<SshTarget>;
  /** Stack name, written into managed-block markers. */
  readonly stack: string;
  /** OS family, for service names. */
  readonly osFamily: OsFamily;
  /** Packages and services the host's role needs. */
  readonly software: SoftwareNeeds;
  /** The secret values that complete the files rendered with placeholders (kept secret end to end). */
  readonly secrets: pulumi.Output<RenderSecrets>;
  /** web: true: the site's database account (scripts from render/scripts.ts siteAccountScripts), made once the files are in place. */
  readonly siteAccount?: { readonly create: string; readonly delete: string };
  /**
   * Resources made once the software step exists, which the host's files then wait for: the TLS certificate (its
   * key needs the database server's user; the master's my.cnf names its files, and MariaDB does not start when
   * they are missing).
   */
  readonly beforeFiles?: (software: RemoteCommand) => pulumi.Resource[];
  /** Resources the host's first step waits for: the stack's MasterRole, so a switchover runs before any my.cnf changes. */
  readonly after?: pulumi.Resource[];
}

/** Turns an absolute path into a resource-name-safe suffix. */
export function pathSlug(p: string): string {
  return p.replace(/^\//, "").replace(/[^A-Za-z0-9_.-]+/g, "-");
}

/** Every managed file of one host; children are named `<host>-<path slug>`. */
export class MirrorHost extends pulumi.ComponentResource {
  /** Managed files by absolute path. */
  public readonly files: Record<string, HostFile> = {};
  /** The host's packages and services (what steps that need the database server's user wait for). */
  public readonly software: RemoteCommand;

  constructor(name: string, args: MirrorHostArgs, opts?: pulumi.ComponentResourceOptions) {
    super("mirrorstack:index:MirrorHost", name, {}, opts);
    // Packages first: validators and service actions of the files need them.
    const script = ensureSoftwareScript(args.software, args.osFamily);
    const software = new RemoteCommand(`${name}-software`, { target: args.target, create: script }, { parent: this, dependsOn: args.after ?? [] });
    this.software = software;
    const before = args.beforeFiles?.(software) ?? [];
    for (const f of args.plan.files.filter((x) => x.appliedBy === "host")) {
      const c = f.completion;
      const content = c?.needs === "secrets" ? pulumi.secret(args.secrets.apply((s) => c.content(s))) : f.content;
      this.files[f.path] = new HostFile(
        `${name}-${pathSlug(f.path)}`,
        {
          target: args.target,
          stack: args.stack,
          path: f.path,
          kind: f.kind,
          owner: f.owner,
          group: f.group,
          mode: f.secret && !/^0?[0-7]00$/.test(f.mode) ? "0600" : f.mode,
          content,
          validate: f.validate ?? "",
          actions: actionWords(f.onChange, args.osFamily),
        },
        { parent: this, dependsOn: [software, ...before], additionalSecretOutputs: f.secret ? ["content"] : [] },
      );
    }
    if (args.siteAccount) {
      new RemoteCommand(
        `${name}-site-account`,
        { target: args.target, create: args.siteAccount.create, delete: args.siteAccount.delete },
        { parent: this, dependsOn: Object.values(this.files) },
      );
    }
    this.registerOutputs({});
  }
}
