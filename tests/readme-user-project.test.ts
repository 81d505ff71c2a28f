/**
 * The README's set-up of a project of your own type-checks its snippets: a project outside the repository whose
 * `node_modules` links what the README's `pnpm add` lines link from the clone (`@netdicom/net`, `@netdicom/wire`,
 * and the clone's own `effect`, `@effect/platform-node`, `typescript` and `@types/node`, one copy of each), with the
 * `tsconfig.json` that `tsc --init` writes there and the README's `compilerOptions` block applied over it. A newcomer found the README's TLS snippet (`export const program = ...`)
 * failing there with TS2742 ("cannot be named without a reference to .../AssociationError.ts"): `tsc --init` turns on
 * `declaration`, and the packages export only their index module.
 */
import { assert, describe, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import ts from "typescript"
import { repoRoot } from "./support/peers.ts"

const readme = () => fs.readFileSync(path.join(repoRoot, "README.md"), "utf8")

// The README's compilerOptions to set over `tsc --init`'s: its one json block naming allowImportingTsExtensions.
const readmeOptions = (): Record<string, unknown> => {
  const blocks = Array.from(readme().matchAll(/```json\n([\s\S]*?)```/g), (m) => m[1]!)
  const block = blocks.find((b) => b.includes("allowImportingTsExtensions"))
  assert.isDefined(block, "the README's tsconfig.json block")
  const parsed = JSON.parse(block!) as { compilerOptions?: Record<string, unknown> }
  assert.isDefined(parsed.compilerOptions)
  return parsed.compilerOptions!
}

// The arguments of the README's `npx -y pnpm@10 add` lines (continued lines joined), as paths in this repository: each
// must be one (`/path/to/netdicom/...`), not a registry name, so that the project loads the clone's copies.
const readmeAddPaths = (): ReadonlyArray<string> => {
  const sh = Array.from(readme().matchAll(/```sh\n([\s\S]*?)```/g), (m) => m[1]!.replace(/\\\n/g, " "))
  const block = sh.find((b) => b.includes("pnpm@10 add /path/to/netdicom/packages/net"))
  assert.isDefined(block, "the README's pnpm add block")
  const args = block!
    .split("\n")
    .filter((line) => line.startsWith("npx -y pnpm@10 add "))
    .flatMap((line) => line.replace(/#.*$/, "").trim().split(/\s+/).slice(4))
    .filter((arg) => arg !== "-D")
  for (const arg of args) assert.match(arg, /^\/path\/to\/netdicom\//, `linked from the clone: ${arg}`)
  for (const name of ["packages/net", "packages/wire", "node_modules/effect", "node_modules/@types/node"]) {
    assert.include(args, `/path/to/netdicom/${name}`)
  }
  return args.map((arg) => fs.realpathSync(path.join(repoRoot, arg.slice("/path/to/netdicom/".length))))
}

const link = (project: string, name: string, target: string) => {
  const at = path.join(project, "node_modules", name)
  fs.mkdirSync(path.dirname(at), { recursive: true })
  fs.symlinkSync(target, at, "dir")
}

describe("a project of your own, set up as the README says", () => {
  it(
    "type-checks every README snippet under tsc --init's options and the README's changes",
    { timeout: 120_000 },
    () => {
      const project = fs.mkdtempSync(path.join(os.tmpdir(), "netdicom-user-project-"))
      try {
        fs.writeFileSync(path.join(project, "package.json"), JSON.stringify({ type: "module" }))
        // what the README's `pnpm add` lines link: paths in the clone, each under its package's name
        for (const dir of readmeAddPaths()) {
          const name = (JSON.parse(fs.readFileSync(path.join(dir, "package.json"), "utf8")) as { name: string }).name
          link(project, name, dir)
        }
        // the file `tsc --init` writes there, then the README's options over it
        execFileSync(process.execPath, [path.join(project, "node_modules", "typescript", "bin", "tsc"), "--init"], {
          cwd: project,
          stdio: "ignore"
        })
        const init = ts.parseConfigFileTextToJson(
          "tsconfig.json",
          fs.readFileSync(path.join(project, "tsconfig.json"), "utf8")
        )
        assert.isUndefined(init.error)
        const config = init.config as { compilerOptions: Record<string, unknown> }
        const compilerOptions = { ...config.compilerOptions, ...readmeOptions() }
        fs.writeFileSync(path.join(project, "tsconfig.json"), JSON.stringify({ ...config, compilerOptions }))
        const snippets = Array.from(readme().matchAll(/```ts\n([\s\S]*?)```/g), (m) => m[1]!)
        assert.isAtLeast(snippets.length, 4)
        snippets.forEach((code, i) => fs.writeFileSync(path.join(project, `snippet${i + 1}.ts`), code))

        const parsed = ts.getParsedCommandLineOfConfigFile(path.join(project, "tsconfig.json"), undefined, {
          ...ts.sys,
          onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(ts.flattenDiagnosticMessageText(d.messageText, " "))
        })
        assert.isDefined(parsed)
        assert.deepStrictEqual(parsed!.errors, [])
        const program = ts.createProgram(parsed!.fileNames, parsed!.options)
        const problems = ts
          .getPreEmitDiagnostics(program)
          .map(
            (d) =>
              `${d.file ? path.basename(d.file.fileName) : "?"}: TS${d.code} ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`
          )
        assert.deepStrictEqual(problems, [])
      } finally {
        fs.rmSync(project, { recursive: true, force: true })
      }
    }
  )
})
