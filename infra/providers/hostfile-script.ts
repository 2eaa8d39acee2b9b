import * as fs from "fs";
import * as path from "path";
import { PROJECT_ROOT } from "../paths";

// The bash program that applies, removes or reads one managed file on a host (infra/providers/hostfile.sh).
// Read once here: dynamic providers capture the text, not the file, so state carries the exact script used.
export const HOSTFILE_SCRIPT = fs.readFileSync(path.join(PROJECT_ROOT, "infra/providers/hostfile.sh"), "utf8");
