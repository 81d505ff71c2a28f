/** Types of `entry.js` (plain JavaScript, so that the bin runs before anything is compiled). */
export declare const PACKAGES: ReadonlyArray<string>
export declare const sourceManifest: (packagesDir: string) => Record<string, string>
export declare const manifestPath: (bundle: string) => string
export declare const entryPoint: (binDir: string) => string
