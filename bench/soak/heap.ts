/**
 * The heap of a Node process after a full collection: `node bench/soak/heap.ts ws://127.0.0.1:PORT/ID`, for a process
 * started with `--inspect=127.0.0.1:0` (its WebSocket address is on its stderr). Prints one JSON line: the heap in use
 * and its size, the process's active resources by kind (`process.getActiveResourcesInfo`), its RSS, external and
 * ArrayBuffer memory. Used by the soak runs (attack32) to measure what a server keeps per 1,000 associations.
 */
interface Reply {
  readonly id?: number
  readonly result?: Record<string, unknown>
}

const socket = new WebSocket(process.argv[2] ?? "")
let nextId = 0
const waiting = new Map<number, (result: Record<string, unknown>) => void>()
socket.onmessage = (event) => {
  const reply = JSON.parse(String(event.data)) as Reply
  if (reply.id !== undefined) waiting.get(reply.id)?.(reply.result ?? {})
}
const call = (method: string, params: object = {}): Promise<Record<string, unknown>> =>
  new Promise((resolve) => {
    const id = ++nextId
    waiting.set(id, resolve)
    socket.send(JSON.stringify({ id, method, params }))
  })

const RESOURCES =
  "JSON.stringify({ resources: process.getActiveResourcesInfo().reduce((a, k) => (a[k] = (a[k] ?? 0) + 1, a), {})," +
  " rss: process.memoryUsage().rss, external: process.memoryUsage().external," +
  " arrayBuffers: process.memoryUsage().arrayBuffers })"

socket.onopen = async () => {
  await call("HeapProfiler.collectGarbage")
  await call("HeapProfiler.collectGarbage")
  const usage = await call("Runtime.getHeapUsage")
  const evaluated = await call("Runtime.evaluate", { expression: RESOURCES })
  const value = (evaluated["result"] as { readonly value?: string } | undefined)?.value ?? "{}"
  const rest = JSON.parse(value) as Record<string, unknown>
  process.stdout.write(`${JSON.stringify({ used: usage["usedSize"], total: usage["totalSize"], ...rest })}\n`)
  socket.close()
}
socket.onerror = () => {
  process.stderr.write(`cannot reach ${process.argv[2] ?? "(no address given)"}\n`)
  process.exitCode = 1
}
