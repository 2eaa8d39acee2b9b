// The contract between pure rendering (config -> files) and the apply layer (files -> hosts).
// Rendering never touches Pulumi or SSH; components only move these records onto hosts.

/** A service action the apply layer runs on a host after a file's content changed. */
export interface ServiceAction {
  /** Logical service name; the apply layer maps it to systemctl/service per host. */
  readonly service: "mariadb" | "mysql" | "ssh" | "cron" | "nfs-server" | "rpcbind" | "idmapd" | "apache" | "nginx";
  /**
   * What to do when the file changed. `exportfs` runs `exportfs -ra`. `settings` (a database option file): the
   * changed options go live with SET GLOBAL when the server allows it (infra/render/live-settings.ts), else restart.
   */
  readonly action: "restart" | "reload" | "exportfs" | "remount" | "settings";
}

/** Secret values some files hold (the program completes those files with them inside Outputs). */
export interface RenderSecrets {
  readonly replicationPassword: string;
  readonly backupPassphrase: string;
}

/**
 * A file whose content holds values known only at apply time, and the renderer's own function that completes it.
 * The program renders once, with placeholders (what previews show), and the component that applies the file
 * calls `content` with the real values: the secrets (MirrorHost), the mirrors' sync public keys (FileMirroring) or
 * the backup-taking host's push key (BackupPush).
 */
export type Completion =
  | { readonly needs: "secrets"; readonly content: (secrets: RenderSecrets) => string }
  | { readonly needs: "mirror-keys"; readonly content: (mirrorKeys: Readonly<Record<string, string>>) => string }
  | { readonly needs: "taker-key"; readonly content: (takerKey: string) => string };

/** One file (or one managed block inside a file) as a renderer makes it. */
export interface FileBody {
  /** Absolute path on the host. */
  readonly path: string;
  /** `whole`: mirrorstack owns the file. `block`: only the lines between BEGIN/END markers. */
  readonly kind: "whole" | "block";
  /** Owner user name. */
  readonly owner: string;
  /** Owner group name. */
  readonly group: string;
  /** Octal mode, e.g. "0644". */
  readonly mode: string;
  /** Full content (for `block`: the lines between the markers, without the markers). */
  readonly content: string;
  /** True when the content holds a secret value: apply keeps it secret and forces mode 0600 or stricter. */
  readonly secret: boolean;
  /**
   * Shell snippet run on the host before the swap, with $FILE set to the candidate file (for `block`: the
   * whole candidate file). Non-zero exit aborts the swap and fails the update with its output.
   */
  readonly validate?: string;
  /** Actions to run after the content changed. */
  readonly onChange: readonly ServiceAction[];
  /** One line saying what the file is for (shown in reviews). */
  readonly description: string;
  /** Set when the content can only be completed at apply time (see Completion). */
  readonly completion?: Completion;
}

/**
 * Which component applies a file of a host plan: `host` (MirrorHost, right after the host's packages), or
 * `file-mirroring` (FileMirroring: the rsync-ssh files once the mirrors' sync keys exist, the NFS files before
 * the NFS server starts).
 */
export type AppliedBy = "host" | "file-mirroring";

/** One file (or one managed block inside a file) that mirrorstack owns on one host, and who applies it. */
export interface RenderedFile extends FileBody {
  readonly appliedBy: AppliedBy;
}

/** Everything mirrorstack renders for one host. */
export interface HostPlan {
  /** Host name from the stack config. */
  readonly host: string;
  /** Role of the host. */
  readonly role: "master" | "mirror";
  /** Address from the stack config. */
  readonly address: string;
  /** Files in apply order. */
  readonly files: readonly RenderedFile[];
}
