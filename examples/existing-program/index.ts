// A team's existing Pulumi program that adds a mirrorstack site mirror next to its own resources.
import * as pulumi from "@pulumi/pulumi";
import { SiteMirror, type SiteMirrorArgs } from "mirrorstack";

const config = new pulumi.Config();

// The team's own resources. One component stands for them here (a real program has its cloud resources, DNS
// records and so on), so the example runs without a cloud account.
class WikiApp extends pulumi.ComponentResource {
  public readonly url: pulumi.Output<string>;

  constructor(name: string, args: { domain: string }, opts?: pulumi.ComponentResourceOptions) {
    super("acme:wiki:App", name, {}, opts);
    this.url = pulumi.output(`https://${args.domain}/`);
    this.registerOutputs({ url: this.url });
  }
}

const wiki = new WikiApp("wiki", { domain: config.get("domain") ?? "wiki.example.org" });

// The wiki's database and files, mirrored. The hosts come from this program's config (the same shapes as
// mirrorstack's own stack config, docs/config.md); the rest is written here. Args are validated before any
// resource is made, every problem at once.
const mirror = new SiteMirror(
  "wiki-mirror",
  {
    master: config.requireObject<SiteMirrorArgs["master"]>("master"),
    mirrors: config.requireObject<SiteMirrorArgs["mirrors"]>("mirrors"),
    ssh: config.getObject<NonNullable<SiteMirrorArgs["ssh"]>>("ssh"),
    database: { databases: ["wiki"], binlogRetentionDays: 3 },
    files: { trees: [{ path: "/srv/wiki", exclude: ["cache/"] }] },
    backups: { enabled: false },
    // A secret of this program's config; the component keeps it secret and checks it once known.
    replicationPassword: config.requireSecret("replicationPassword"),
  },
  { dependsOn: [wiki] },
);

export const url = wiki.url;
export const mirrorHosts = mirror.hosts.apply((hosts) => hosts.map((h) => `${h.name} (${h.role}) ${h.address}`));
export const replication = mirror.replication;
