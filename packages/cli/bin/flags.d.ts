/** Types of `flags.js` (plain JavaScript, so that the bin runs before anything is compiled). */
export declare const MAGLEV_TOP: string
export declare const MAGLEV_FROM: number
export declare const execArgvFor: (version: string, execArgv: ReadonlyArray<string>) => Array<string> | undefined

/** V8 flags a netdicom server adds on Node 26 and later (Maglev's tier-up thresholds). */
export declare const SERVER_FLAGS: ReadonlyArray<string>
/** The Node major version from which a server adds `SERVER_FLAGS`. */
export declare const SERVER_FLAGS_FROM: number
/** `execArgv` with the `SERVER_FLAGS` it lacks (Node 26 and later), or undefined when none are to be added. */
export declare const serverExecArgv: (version: string, execArgv: ReadonlyArray<string>) => Array<string> | undefined
