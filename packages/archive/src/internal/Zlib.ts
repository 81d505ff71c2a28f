/**
 * `node:zlib`, loaded the first time a deflated instance is stored or its header read, not as the package loads: a
 * server that never meets one (most) does without zlib's memory.
 */
import type * as NodeZlib from "node:zlib"

let loaded: typeof NodeZlib | undefined

/** Node's zlib module, loaded on first use. */
export const zlib = (): typeof NodeZlib => (loaded ??= process.getBuiltinModule("node:zlib"))
