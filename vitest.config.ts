import { defineConfig } from "vitest/config"
import { projects } from "./vitest.workspace.ts"

// node:sqlite (the archive's index) is experimental in Node 22 (the packages' `engines` allow it; the pinned Node 26
// no longer warns): its warning, once per test worker and per spawned command, would bury the test report. Every
// other warning still prints.
process.env["NODE_OPTIONS"] = [process.env["NODE_OPTIONS"], "--disable-warning=ExperimentalWarning"]
  .filter((o) => o !== undefined && o !== "")
  .join(" ")

export default defineConfig({
  test: {
    projects
  }
})
