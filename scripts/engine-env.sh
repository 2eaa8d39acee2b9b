# Sourced by mirrorstack's scripts: where the engine lives and what an offline run needs.
# Expects ROOT (the repo root) to be set.
MS_PULUMI_VERSION=3.259.0   # CLI, and the @pulumi/pulumi npm version in package.json
MS_LANGHOST_VERSION=3.68.0  # see build_language_host in setup.sh
MS_CACHE=${MIRRORSTACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mirrorstack}
# The last part is the layout of the folder (2: the language host behind a wrapper, see setup.sh).
MS_ENGINE_DIR=$MS_CACHE/engine/v$MS_PULUMI_VERSION-lang$MS_LANGHOST_VERSION-2
MS_ENGINE_BIN=$MS_ENGINE_DIR/bin
# Tools the tests run that the machine does not install (setup.sh: promtool).
MS_TOOLS_BIN=$MS_CACHE/tools/bin
MS_AMBIENT_PATH=${MS_AMBIENT_PATH:-$PATH}
export PATH="$MS_ENGINE_BIN:$MS_TOOLS_BIN:$ROOT/node_modules/.bin:$MS_AMBIENT_PATH"
export PULUMI_HOME=${PULUMI_HOME:-$MS_CACHE/pulumi-home}
export PULUMI_SKIP_UPDATE_CHECK=true
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true
# Lab default: a git-ignored file backend inside the repo. Real environments set their own backend.
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$ROOT/.pulumi-state}
# Lab-only passphrase for the passphrase secrets provider; real stacks set theirs.
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}" ] && [ -z "${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ]; then
  export PULUMI_CONFIG_PASSPHRASE=mirrorstack-lab
fi
