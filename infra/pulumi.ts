// The parts of @pulumi/pulumi the program uses, each from its own module. The package's index also loads its
// Automation API and closure serializer, about 0.7 s of every `up` and `preview` that the program never needs.
export { all, output, secret } from "@pulumi/pulumi/output";
export type { Input, Inputs, Output } from "@pulumi/pulumi/output";
export { ComponentResource, CustomResource, Resource, rootStackResource } from "@pulumi/pulumi/resource";
export type { ComponentResourceOptions, CustomResourceOptions } from "@pulumi/pulumi/resource";
export { Config } from "@pulumi/pulumi/config";
export { RunError } from "@pulumi/pulumi/errors";
export { getStack } from "@pulumi/pulumi/metadata";
export * as dynamic from "@pulumi/pulumi/dynamic";
export * as log from "@pulumi/pulumi/log";
export { allConfig } from "@pulumi/pulumi/runtime/config";
/** Whether a config key holds a secret (untyped in the SDK's declarations). */
// eslint-disable-next-line @typescript-eslint/no-require-imports
export const isConfigSecret = (require("@pulumi/pulumi/runtime/config") as { isConfigSecret(k: string): boolean }).isConfigSecret;
