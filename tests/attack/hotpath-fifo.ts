/**
 * Child process for hotpath.test.ts: runs one Part 10 file operation on the path given (a FIFO with no other end)
 * and prints its outcome. A timer prints "alive" after 200 ms: if the operation blocks the event loop, it never
 * does, and the parent kills this process at its deadline.
 *
 * Usage: node hotpath-fifo.ts write|read <path>
 */
import { Effect, Stream } from "effect"
import { Part10 } from "@netdicom/net"

const [mode, path] = process.argv.slice(2)
if (path === undefined) throw new Error("usage: hotpath-fifo.ts write|read <path>")

let alive = false
let done = false
setTimeout(() => {
  alive = true
  console.log("alive")
  if (done) process.exit(0)
}, 200)

const finish = (line: string) => {
  console.log(line)
  done = true
  if (alive) process.exit(0)
}

const meta = {
  transferSyntaxUid: "1.2.840.10008.1.2",
  sopClassUid: "1.2.840.10008.5.1.4.1.1.2",
  sopInstanceUid: "1.2.3.4",
  implementationClassUid: "1.2.3.5"
}

const program =
  mode === "write"
    ? Effect.map(Effect.exit(Part10.writeFile(path, meta, Stream.make(new Uint8Array(16)))), (e) => `write ${e._tag}`)
    : Effect.map(
        Effect.all([
          Effect.exit(Part10.readFileMeta(path)),
          Effect.exit(Part10.loadDataSet(path, { dataSetOffset: 0 }))
        ]),
        ([a, b]) => `readFileMeta ${a._tag} loadDataSet ${b._tag}`
      )

void Effect.runPromise(program).then(finish)
