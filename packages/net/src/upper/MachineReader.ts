/**
 * The upper layer machine's reading side: chunks taken from the transport (synchronously from a socket's `Pull`, or
 * by one fiber from a transport without one), parsed into PDUs (PS3.8 section 9.3), each handed to the machine as its
 * event or, in Sta6 with a receiver installed, straight to the receiver; backpressure by not reading further.
 *
 * P-DATA spanning socket reads is kept as views of them, not joined into a fresh buffer (DIMSE takes any
 * fragmenting). Received P-DATA is bounded: the transport is not read further while `pdataWindow` P-DATA
 * indications wait to be taken, or while a receiver's wait is under way, so a slow consumer applies TCP backpressure
 * to the peer.
 *
 * Not here: what the machine does with each PDU's event (`MachineCore`, `MachineActions`).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Result from "effect/Result"
import { type Pdu, PduParser } from "@netdicom/wire"
import * as Events from "./MachineEvents.ts"
import { MachineCore } from "./MachineCore.ts"
import * as ReceivedBytes from "./ReceivedBytes.ts"
import * as Table from "./StateTable.ts"
import {
  type Pull,
  pullOf,
  readsGivenAwayBy,
  type Transport,
  type TransportError,
  TransportFailed
} from "./Transport.ts"

/** A machine that reads its transport: the parser and what it has read and not yet handed on. */
export abstract class MachineReader extends MachineCore {
  // An acceptor holds an A-ASSOCIATE-RQ (its only large control PDU) to a lower limit than the parser's default.
  readonly parser = PduParser.make({
    maxPduLength: this.options.maxPduLength,
    pdvViews: true,
    ...(this.options.role === "acceptor" ? { maxControlPduLength: PduParser.ACCEPTOR_CONTROL_LIMIT } : {})
  })
  onHeldBytes = this.options.onHeldBytes
  received: ReturnType<typeof ReceivedBytes.tracker> | undefined = undefined
  pull: Pull | undefined = undefined
  // The fallback reader's chunks (a transport not made by `Transport`: a memory pair, a wrapper), and its end.
  inbound: Array<Uint8Array> = []
  inboundEnd: TransportError | undefined = undefined
  resumeReader: (() => void) | undefined = undefined
  reading = false
  // Chunks taken and not yet parsed, and the PDUs of the chunk parsed last not yet handed on.
  chunks: ReadonlyArray<Uint8Array> = []
  chunkAt = 0
  pdus: ReadonlyArray<Pdu.Pdu> = []
  pduAt = 0
  parseError: PduParser.PushResult["error"] = undefined
  // Why handing PDUs on stopped for now: a receiver's wait under way, or no permit for a P-DATA indication.
  waitingOnReceiver = false
  waitingOnPermit = false
  pumping = false
  // Whether the idle activity was marked since the reader last waited: PDUs decoded in one synchronous run (one read,
  // until something is waited for) arrive at the same time, so the first marks them all.
  marked = false
  // Set once a PDU could not be parsed (Evt19): nothing after it is read as PDUs, but the connection still is, so
  // that the peer's close (Evt17) ends Sta13 at once rather than at ARTIM (a pending connection held 30 s).
  broken = false

  /** Starts reading `t`, the machine's connection from now on. */
  attach(t: Transport): void {
    this.connection = t
    this.reading = true
    const pull = pullOf(t)
    this.pull = pull
    // Socket reads whose every byte is consumed (lent data views released) are freed at once; a reader logging PDUs
    // (whose log may keep them), or reading a transport that may keep its reads (one not made by `Transport`: a
    // wrapper recording them, say), frees none.
    this.received = this.debug || !readsGivenAwayBy(t) ? undefined : ReceivedBytes.tracker()
    if (pull !== undefined) {
      const pump = (offered?: Uint8Array) => this.pump(offered)
      pull.listen(pump, pump)
      this.pump()
    } else this.spawn(this.readFallback(t))
  }

  override release(): void {
    super.release()
    this.connection = undefined
    this.pull = undefined
    this.received = undefined
    this.inbound = []
    this.chunks = []
    this.pdus = []
  }

  stopReading(): void {
    this.reading = false
    this.pull?.listen(undefined)
    this.resumeReader?.()
  }

  closeTransport(): void {
    this.stopReading()
    const t = this.connection
    if (t === undefined) return
    if (this.pull !== undefined) this.pull.destroy()
    else this.spawn(Effect.andThen(t.end, t.destroy))
  }

  releasePermit(): void {
    this.permits++
    if (this.waitingOnPermit) {
      this.waitingOnPermit = false
      this.pump()
    }
  }

  transportEnded(e: TransportError): void {
    this.stopReading()
    this.post({
      evt: "Evt17",
      detail:
        e._tag === "WriteTimeout"
          ? `write deadline: no room in the socket buffer for ${Duration.format(e.after)} (peer too slow)`
          : e._tag === "TransportFailed"
            ? `connection failed: ${e.detail}`
            : `connection closed (${e._tag})`
    })
  }

  destroyTransport(): void {
    if (this.pull !== undefined) this.pull.destroy()
    else if (this.connection !== undefined) this.spawn(this.connection.destroy)
  }

  // What the fallback reader (a transport without a `Pull`) has read; a `Pull` is taken from directly.
  nextChunks(): ReadonlyArray<Uint8Array> | TransportError | undefined {
    // The fallback reader, woken, may read at once (chunks the transport held) and put them here.
    if (this.inbound.length === 0 && this.inboundEnd === undefined) this.resumeReader?.()
    if (this.inbound.length > 0) {
      const taken = this.inbound
      this.inbound = []
      return taken
    }
    return this.inboundEnd
  }

  // Hands pdus[at] on, with the P-DATA-TFs right behind it that a run receiver takes with it; returns how many were
  // handed on, 0 when it must wait (no permit for a P-DATA indication) and be handed on again later.
  dispatch(at: number): number {
    const pdus = this.pdus
    const pdu = pdus[at]!
    const debug = this.debug
    if (this.idleMillis !== undefined && !this.marked) {
      // `markActivity()`, inlined: once per socket read
      this.lastActivity = this.timers.now()
      this.marked = !debug
    }
    // Sta6 + Evt10 is a self-loop (DT-2): with a receiver installed, P-DATA goes to it from here, without the
    // machine's queue (the receiver's pace is TCP's).
    const receiver = this.receiver
    if (
      pdu._tag === "PDataTf" &&
      this.current === "Sta6" &&
      receiver !== undefined &&
      this.queuedPData === 0 &&
      this.queuedFromPeer === 0 &&
      this.events.length === 0
    ) {
      if (debug) {
        this.logPdu("received", pdu)
        this.log(Table.describeTransition("Sta6", "Evt10", "DT-2", "Sta6"))
      }
      // One PDU a call when logging, so that each is logged as it is taken.
      const runReceiver = this.runReceiver
      const wait =
        runReceiver !== undefined ? runReceiver.takeRun(pdus, at, debug ? at + 1 : pdus.length) : receiver(pdu)
      const taken = runReceiver !== undefined ? runReceiver.taken : 1
      if (wait !== undefined) {
        this.marked = false
        this.waitingOnReceiver = true
        this.spawn(wait, () => {
          this.waitingOnReceiver = false
          this.pump()
        })
      }
      return taken
    }
    if (pdu._tag === "PDataTf") {
      if (this.permits === 0) {
        this.waitingOnPermit = true
        return 0
      }
      this.permits--
      this.queuedPData++
    }
    if (debug) this.logPdu("received", pdu)
    this.queuedFromPeer++
    this.marked = false
    this.post(Events.ofPdu(pdu))
    return 1
  }

  // Reads and hands on what there is until it runs out or must wait; called on each read and once a wait is over.
  // A read offered as it arrives (`Pull.listen`'s `offer`: one call fewer per read than being told of it and taking
  // it) is taken only when everything read before it has been handed on and nothing waits: true then; otherwise the
  // transport buffers it for a take.
  pump(offered?: Uint8Array): boolean {
    if (this.pumping) return false
    if (offered !== undefined) {
      if (
        !this.reading ||
        this.waitingOnReceiver ||
        this.waitingOnPermit ||
        this.discarding ||
        this.pduAt < this.pdus.length ||
        this.chunkAt < this.chunks.length ||
        this.parseError !== undefined
      ) {
        return false
      }
      this.chunks = [offered]
      this.chunkAt = 0
      this.marked = false
    }
    this.pumping = true
    try {
      while (this.reading && !this.waitingOnReceiver && !this.waitingOnPermit) {
        if (this.pduAt < this.pdus.length) {
          this.pduAt += this.dispatch(this.pduAt)
          continue
        }
        const parseError = this.parseError
        if (parseError !== undefined) {
          this.parseError = undefined
          this.broken = true
          this.post({
            evt: "Evt19",
            reason: parseError._tag === "PduTooLarge" ? 6 : parseError.abortReason,
            detail: parseError.message
          })
          continue
        }
        if (this.chunkAt < this.chunks.length) {
          const chunk = this.chunks[this.chunkAt++]!
          if (this.broken) continue
          const parsed = this.parser.push(chunk)
          this.received?.took(chunk, parsed.pdus, parsed.buffered)
          if (this.onHeldBytes !== undefined && !this.onHeldBytes(parsed.buffered)) this.onHeldBytes = undefined
          this.pdus = parsed.pdus
          this.pduAt = 0
          if (parsed.error) {
            this.parseError = parsed.error
            this.chunkAt = this.chunks.length
          }
          continue
        }
        // Nothing arrived since the last take (the usual case once a read is handed on): no call to find nothing.
        const pull = this.pull
        if (pull !== undefined && !pull.ready) break
        const next = pull !== undefined ? pull.take() : this.nextChunks()
        if (next === undefined) break
        if (!Array.isArray(next)) {
          this.transportEnded(next as TransportError)
          break
        }
        this.marked = false
        // After our A-ABORT nothing the peer sends matters; a peer that keeps sending instead of closing (PS3.8
        // 9.1.5: the A-ABORT's sender waits for the close) has its connection closed.
        if (this.discarding) {
          this.destroyTransport()
          continue
        }
        this.chunks = next as ReadonlyArray<Uint8Array>
        this.chunkAt = 0
      }
    } catch (defect) {
      this.logError("upper layer defect while reading", defect)
      this.stopReading()
      this.destroyTransport()
      this.post({ evt: "Evt17", detail: `internal error: ${String(defect)}` })
    } finally {
      this.pumping = false
    }
    return true
  }

  // The reader of a transport without a synchronous read side: one fiber, reading while the machine takes what it
  // reads.
  readFallback(t: Transport): Effect.Effect<void> {
    // While the machine is not taking what was read, no more is read (TCP then holds the peer).
    const held = () => this.inbound.length > 0 || this.waitingOnReceiver || this.waitingOnPermit
    // Woken by `nextChunks` once the machine has taken everything (possibly from within `pump`, whose own loop then
    // ends).
    const taken = Effect.callback<void>((resume) => {
      // Taken meanwhile (this fiber yielded between the look and this wait): read on.
      if (!this.reading || !held()) return resume(Effect.void)
      this.resumeReader = () => {
        this.resumeReader = undefined
        resume(Effect.void)
      }
    })
    const loop: Effect.Effect<void, TransportError> = Effect.suspend(() => {
      if (!this.reading) return Effect.void
      if (held()) return Effect.andThen(taken, loop)
      return Effect.flatMap(t.read, (got) => {
        this.inbound.push(...got)
        this.pump()
        return loop
      })
    })
    return loop.pipe(
      // A read that fails ends the connection; so does one that dies (a defect of a wrapper's `read`), logged, instead
      // of leaving the machine waiting for reads that will never come.
      Effect.catchCause((cause) => {
        if (Cause.hasInterruptsOnly(cause)) return Effect.void
        const error = Cause.findError(cause)
        return Effect.andThen(
          Result.isSuccess(error) ? Effect.void : Effect.logError("transport read died", cause),
          Effect.sync(() => {
            this.inboundEnd = Result.isSuccess(error)
              ? error.success
              : new TransportFailed({ detail: `read died: ${String(Cause.squash(cause))}` })
            this.pump()
          })
        )
      })
    )
  }
}
