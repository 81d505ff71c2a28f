/**
 * `node:zlib`, loaded the first time a deflated data set is read or written (Deflated Explicit VR Little Endian,
 * PS3.5 A.5), not as the package loads: zlib's setup holds ~1 MiB of a process's memory, and most never see a
 * deflated instance.
 */
import type * as NodeZlib from "node:zlib"

let loaded: typeof NodeZlib | undefined

/** Node's zlib module, loaded on first use. */
export const zlib = (): typeof NodeZlib => (loaded ??= process.getBuiltinModule("node:zlib"))
