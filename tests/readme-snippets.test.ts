/**
 * Every TypeScript snippet the README shows type-checks as a file of a user's project: each is written on its own
 * into `.tmp/readme-snippets/` (outside the sources, resolving `@netdicom/net` and `effect` as a project that linked
 * them does) and checked with the repository's compiler options, so a snippet that leaves out an import, names
 * something that does not exist, or is a fragment a formatter rewrote (`yield * x` outside a generator) fails here.
 */
import { assert, describe, it } from "@effect/vitest"
import * as fs from "node:fs"
import * as path from "node:path"
import ts from "typescript"
import { repoRoot } from "./support/peers.ts"

const snippets = (): ReadonlyArray<string> =>
  Array.from(fs.readFileSync(path.join(repoRoot, "README.md"), "utf8").matchAll(/```ts\n([\s\S]*?)```/g), (m) => m[1]!)

describe("README snippets", () => {
  it("each TypeScript snippet type-checks on its own", { timeout: 120_000 }, () => {
    const found = snippets()
    assert.isAtLeast(found.length, 4, "the README's ts snippets")
    const dir = path.join(repoRoot, ".tmp", "readme-snippets")
    fs.rmSync(dir, { recursive: true, force: true })
    fs.mkdirSync(dir, { recursive: true })
    const files = found.map((code, i) => {
      const file = path.join(dir, `snippet${i + 1}.ts`)
      fs.writeFileSync(file, code)
      return file
    })
    const config = ts.readConfigFile(path.join(repoRoot, "tsconfig.base.json"), (f) => ts.sys.readFile(f))
    const { options } = ts.parseJsonConfigFileContent(config.config, ts.sys, repoRoot)
    const program = ts.createProgram(files, options)
    const problems = ts
      .getPreEmitDiagnostics(program)
      .map(
        (d) =>
          `${d.file ? path.basename(d.file.fileName) : "?"}: ${ts.flattenDiagnosticMessageText(d.messageText, " ")}`
      )
    assert.deepStrictEqual(problems, [])
  })
})
