// The mirrorstack policy pack. Run it with the engine:
//   npm run pulumi -- preview --stack <stack> --policy-pack policy/analyzer
// (`--policy-pack policy` needs a language host that can run plugins; see README "Policy").
import { PolicyPack } from "@pulumi/policy";
import { mirrorstackPolicies } from "./policies";

new PolicyPack("mirrorstack", { policies: mirrorstackPolicies(), enforcementLevel: "mandatory" });
