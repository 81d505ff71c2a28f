/** Types of `flags.js` (plain JavaScript, so that the bin runs before anything is compiled). */
export declare const MAGLEV_TOP: string
export declare const MAGLEV_FROM: number
export declare const execArgvFor: (version: string, execArgv: ReadonlyArray<string>) => Array<string> | undefined
