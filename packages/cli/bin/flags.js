// The Node flags the `netdicom` command runs with, fixed for the Node running it. The shebang's `--max-opt=2` makes
// Maglev V8's top tier (docs/performance.md, Round 12): right on Node 24 and later, where Maglev is on, but on Node
// 22, which keeps Maglev off, it would leave V8 no optimizing tier at all (Sparkplug only: a long-running server
// pays 25-40% more CPU per small instance, Round 9). There the command runs again without it.

/** The flag that makes Maglev the top tier. */
export const MAGLEV_TOP = "--max-opt=2"

/** The Node major version from which Maglev is on by default. */
export const MAGLEV_FROM = 24

/**
 * `execArgv` to run again with on Node `version` (`process.versions.node`), or undefined when it is right as it is:
 * without `--max-opt=2` on a Node older than 24.
 */
export const execArgvFor = (version, execArgv) => {
  const major = Number(version.split(".")[0])
  if (!(major < MAGLEV_FROM) || !execArgv.includes(MAGLEV_TOP)) return undefined
  return execArgv.filter((flag) => flag !== MAGLEV_TOP)
}
