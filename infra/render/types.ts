// The contract between pure rendering (config -> files) and the apply layer (files -> hosts).
// Rendering never touches Pulumi or SSH; components only move these records onto hosts.

/** A service action the apply layer runs on a host after a file's content changed. */
export interface ServiceAction {
  /** Logical service name; the apply layer maps it to systemctl/service per host. */
  readonly service: "mariadb" | "mysql" | "ssh" | "cron" | "nfs-server" | "rpcbind" | "idmapd";
  /**
   * What to do when the file changed. `exportfs` runs `exportfs -ra`. `settings` (a database option file): the
   * changed options go live with SET GLOBAL when the server allows it (infra/render/live-settings.ts), else restart.
   */
  readonly action: "restart" | "reload" | "exportfs" | "remount" | "settings";
}

/** One file (or one managed block inside a file) that mirrorstack owns on one host. */
export interface RenderedFile {
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
