/** The Vitest projects of the repository; `vitest.config.ts` reads this list as `test.projects`. */
export const projects = [
  { test: { name: "wire", include: ["packages/wire/test/**/*.test.ts"], testTimeout: 60_000 } },
  { test: { name: "net", include: ["packages/net/test/**/*.test.ts"], testTimeout: 30_000 } },
  { test: { name: "archive", include: ["packages/archive/test/**/*.test.ts"], testTimeout: 60_000 } },
  { test: { name: "interop", include: ["tests/**/*.test.ts"], testTimeout: 120_000, hookTimeout: 120_000 } },
  { test: { name: "cli", include: ["packages/cli/test/**/*.test.ts"], testTimeout: 60_000, hookTimeout: 60_000 } }
]
