/**
 * The upper layer machine's actions (PS3.8 section 9.2, Tables 9-6 to 9-9: AE-1 to AE-8, DT-1 and DT-2, AR-1 to
 * AR-10, AA-1 to AA-8), each as the standard names it, each returning the next state; and the idle watch, which
 * aborts (or, for a requestor that asks for it, releases) an association with no PDU for a while in Sta6.
 *
 * Which action an event in a state runs is `StateTable`'s; the stepping, the indications and the writes are
 * `MachineCore`'s, the reading `MachineReader`'s.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Scope from "effect/Scope"
import type { Pdu } from "@netdicom/wire"
import type * as Events from "./MachineEvents.ts"
import { providerAbort } from "./MachineCore.ts"
import { MachineReader } from "./MachineReader.ts"
import type * as Table from "./StateTable.ts"
import type { ConnectFailed, Opened, Transport } from "./Transport.ts"

/** A machine that runs the PS3.8 actions. */
export abstract class MachineActions extends MachineReader {
  pendingRq: Pdu.AAssociateRq | undefined = undefined
  pendingRqBytes: Uint8Array | undefined = undefined
  // Set once we answered the peer's A-RELEASE-RQ (AR-4): what follows in Sta13 is only the wait for its close.
  released = false
  // Asked at the idle timeout (requestor): true releases rather than aborts.
  idleQuiet: (() => boolean) | undefined = undefined

  override release(): void {
    super.release()
    this.pendingRq = undefined
    this.pendingRqBytes = undefined
    this.idleQuiet = undefined
  }

  // ---- actions (PS3.8 Tables 9-6 to 9-9); each returns the next state ----
  run(name: Table.ActionName, input: Events.Input): Table.State {
    switch (name) {
      case "AE-1":
        return this.openTransport(input)
      case "AE-2":
        if (this.pendingRq) this.sendPdu(this.pendingRq, this.pendingRqBytes)
        return "Sta5"
      case "AE-3":
        if (this.idleMillis !== undefined) this.idleWatch(this.idleMillis)
        if (input.evt === "Evt3") this.indicate({ _tag: "AssociateAccepted", ac: input.ac })
        return "Sta6"
      case "AE-4":
        if (input.evt === "Evt4") this.indicate({ _tag: "AssociateRejected", rj: input.rj })
        this.closeTransport()
        return "Sta1"
      case "AE-5":
        this.startArtim()
        return "Sta2"
      case "AE-6":
        this.stopArtim()
        if (input.evt !== "Evt6") return "Sta13"
        if ((input.rq.protocolVersion & 1) === 0) {
          this.sendPdu({ _tag: "AAssociateRj", result: 1, source: 2, reason: 2 })
          this.startArtim()
          return "Sta13"
        }
        this.indicate({ _tag: "AssociateIndication", rq: input.rq })
        return "Sta3"
      case "AE-7":
        if (this.idleMillis !== undefined) this.idleWatch(this.idleMillis)
        if (input.evt === "Evt7") this.sendPdu(input.ac, input.encoded)
        return "Sta6"
      case "AE-8":
        if (input.evt === "Evt8") this.sendPdu(input.rj)
        this.startArtim()
        return "Sta13"
      case "DT-1":
        return this.current
      case "DT-2":
      case "AR-6":
        if (input.evt === "Evt10") this.indicate({ _tag: "PData", pdu: input.pdu })
        return this.current
      case "AR-1":
        this.sendPdu({ _tag: "AReleaseRq" })
        return "Sta7"
      case "AR-2":
        this.indicate({ _tag: "ReleaseIndication", collision: false })
        return "Sta8"
      case "AR-3":
        this.indicate({ _tag: "ReleaseConfirm" })
        this.closeTransport()
        return "Sta1"
      case "AR-4":
        this.sendPdu({ _tag: "AReleaseRp" })
        this.released = true
        this.startArtim()
        return "Sta13"
      case "AR-5":
        this.stopArtim()
        return "Sta1"
      case "AR-7":
        return this.current
      case "AR-8":
        this.indicate({ _tag: "ReleaseIndication", collision: true })
        return this.options.role === "requestor" ? "Sta9" : "Sta10"
      case "AR-9":
        this.sendPdu({ _tag: "AReleaseRp" })
        return "Sta11"
      case "AR-10":
        this.indicate({ _tag: "ReleaseConfirm" })
        return "Sta12"
      case "AA-1":
        if (input.evt === "Evt15") {
          const detail = input.detail ?? "aborted by the local user"
          this.indicate({ _tag: "Aborted", abort: { by: "user", source: 0, reason: 0, detail } })
        }
        // Our user's abort (Evt15) is service-user source; a bad or unexpected PDU in Sta2 is reported with the
        // provider source and the reason, which tells the peer more.
        this.sendPdu(
          input.evt === "Evt15"
            ? { _tag: "AAbort", source: 0, reason: 0 }
            : { _tag: "AAbort", source: 2, reason: input.evt === "Evt19" ? input.reason : 2 }
        )
        this.startArtim()
        return "Sta13"
      case "AA-2":
        this.stopArtim()
        this.closeTransport()
        // After our A-RELEASE-RP the association is over and released; a peer slow to close changes nothing.
        if (input.evt === "Evt18" && !this.released) this.indicate(providerAbort(0, "ARTIM timer expired"))
        if (input.evt === "Evt15") this.indicate(providerAbort(0, "aborted before the connection opened"))
        return "Sta1"
      case "AA-3":
        if (input.evt === "Evt16") {
          const { source, reason } = input.abort
          this.indicate({ _tag: "Aborted", abort: { by: "peer", source, reason, detail: "A-ABORT received" } })
        }
        this.closeTransport()
        return "Sta1"
      case "AA-4": {
        const connectFailed = input.evt === "Evt17" ? input.connectFailed : undefined
        const closed = input.evt === "Evt17" ? input.detail : "connection closed"
        // Closed while we awaited the A-ASSOCIATE-AC: most often a server that speaks TLS, or no DICOM at all.
        const detail =
          this.current === "Sta5" && connectFailed === undefined
            ? `${closed} before any answer to the A-ASSOCIATE-RQ (is it a DICOM service? over TLS if it needs it?)`
            : closed
        this.indicate({
          _tag: "Aborted",
          abort: { by: "provider", source: 2, reason: 0, detail, ...(connectFailed ? { connectFailed } : {}) }
        })
        return "Sta1"
      }
      case "AA-5":
        this.stopArtim()
        return "Sta1"
      case "AA-6":
        return "Sta13"
      case "AA-7":
        this.sendPdu({ _tag: "AAbort", source: 2, reason: 2 })
        return "Sta13"
      case "AA-8": {
        const reason = input.evt === "Evt19" ? input.reason : 2
        const detail = input.evt === "Evt19" ? input.detail : `unexpected ${input.evt} in ${this.current}`
        this.sendPdu({ _tag: "AAbort", source: 2, reason })
        this.indicate(providerAbort(reason, detail))
        this.startArtim()
        return "Sta13"
      }
    }
  }

  // AE-1: the transport opened, its outcome stepped as Evt2 or Evt17.
  openTransport(input: Events.Input): Table.State {
    const { open, connect } = this.options
    if (input.evt !== "Evt1" || (!open && !connect)) return "Sta1"
    this.pendingRq = input.rq
    this.pendingRqBytes = input.encoded
    if (open !== undefined) {
      // No fiber: the outcome is stepped from the socket's event (or at once, after this step, when Node refused the
      // address).
      this.abandonOpening = open(this.timers, (outcome) => this.opened(outcome))
      return "Sta4"
    }
    if (!connect) return "Sta1"
    const connScope = Scope.makeUnsafe()
    this.connScope = connScope
    this.spawn(
      Scope.provide(connect, connScope).pipe(
        Effect.matchEffect({
          // Closed with the connection's scope, not here, once the machine has finished.
          onSuccess: (transport) => Effect.sync(() => this.connected(transport)),
          onFailure: (e) => Effect.sync(() => this.opened(e))
        })
      )
    )
    return "Sta4"
  }

  // The outcome of AE-1's connect.
  opened(outcome: Opened | ConnectFailed): void {
    if (outcome._tag === "ConnectFailed") {
      this.post({ evt: "Evt17", detail: outcome.message, connectFailed: outcome })
      return
    }
    if (this.finished) return outcome.close()
    this.connected(outcome.transport)
  }

  // Evt2: the transport is open (and read from now on).
  connected(transport: Transport): void {
    if (this.finished) return
    this.attach(transport)
    this.post({ evt: "Evt2", transport })
  }

  // ---- the idle watch ----
  // A timer until the idle time since the last PDU would be up, then checks again. Sta6 only: once the machine has
  // left it (a release or an abort under way, bounded by their own timers) it never comes back, and the watch ends
  // rather than checking again every millisecond.
  idleWatch(limit: number): void {
    this.markActivity()
    // Armed as Sta6 is entered (the action runs before the state changes): the first check comes `limit` later.
    this.idleTimer = this.timers.after(limit, () => this.idleCheck(limit))
  }

  idleCheck(limit: number): void {
    if (this.finished || this.current !== "Sta6") return
    const left = this.lastActivity + limit - this.timers.now()
    if (left <= 0) {
      const idleFor = Duration.format(Duration.millis(limit))
      if (this.options.role === "requestor" && this.idleQuiet?.() === true) return this.releaseIdle(idleFor)
      this.post({ evt: "Evt15", detail: `no PDU for ${idleFor} (idle timeout)` })
      return
    }
    this.idleTimer = this.timers.after(left, () => this.idleCheck(limit))
  }

  // The idle timeout's release: the A-RELEASE-RQ now, and the A-ABORT if the association has not ended (a peer that
  // never answers, or a release collision left unfinished) within the ARTIM time; the watch's timer is reused for it
  // (cancelled when the machine finishes).
  releaseIdle(idleFor: string): void {
    this.post({ evt: "Evt11" })
    const artimMillis = this.artimMillis
    this.idleTimer = this.timers.after(artimMillis, () => {
      this.idleTimer = undefined
      if (this.finished || this.current === "Sta13") return
      const waited = Duration.format(Duration.millis(artimMillis))
      this.post({ evt: "Evt15", detail: `no A-RELEASE-RP within ${waited} of our A-RELEASE-RQ (idle for ${idleFor})` })
    })
  }
}
