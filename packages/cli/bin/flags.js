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

/**
 * V8 flags a netdicom server (`storescp`, `qrscp`) adds on Node 26 and later (docs/performance.md, Round 19, V8
 * tiering): Maglev compiles a function after 50 calls rather than 400, and 50 calls after its inline caches last
 * changed rather than 500, and frees a finished compile job on the main thread rather than on V8's one background
 * thread. A fresh server then spends ~15-20% less main-thread CPU per small C-STORE and per association; its peak
 * while receiving a large instance stays where it was, which it did not with the thresholds alone (the finished jobs
 * waited for the busy background thread, up to 15 MiB more). A sending process (`store`) pays 1-3 MiB and ~20 ms
 * more for it, so only the servers take them. Measured on Node 26 only.
 */
export const SERVER_FLAGS = [
  "--invocation-count-for-maglev=50",
  "--minimum-invocations-after-ic-update=50",
  "--no-maglev-destroy-on-background"
]

/** The Node major version from which a server adds `SERVER_FLAGS`. */
export const SERVER_FLAGS_FROM = 26

/**
 * `execArgv` with the `SERVER_FLAGS` it lacks, for a server on Node `version`, or undefined when none are to be added
 * (all there, or a Node older than 26).
 */
export const serverExecArgv = (version, execArgv) => {
  const major = Number(version.split(".")[0])
  if (major < SERVER_FLAGS_FROM) return undefined
  const missing = SERVER_FLAGS.filter((flag) => !execArgv.includes(flag))
  return missing.length === 0 ? undefined : [...execArgv, ...missing]
}
