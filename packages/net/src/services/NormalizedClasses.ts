/**
 * The DIMSE-N SOP classes netdicom knows by name (internal to `services`): `Normalized` serves them, and `Refusal`
 * refuses the DIMSE-C operations none of them has (a C-STORE of an MPPS).
 */
// Meta SOP classes (PS3.4 H.3) and the SOP classes their presentation context carries.
export const META_SOP_CLASSES: ReadonlyMap<string, ReadonlySet<string>> = new Map([
  // Basic Grayscale Print Management Meta: Basic Film Session, Film Box, Grayscale Image Box, Printer
  [
    "1.2.840.10008.5.1.1.9",
    new Set(["1.2.840.10008.5.1.1.1", "1.2.840.10008.5.1.1.2", "1.2.840.10008.5.1.1.4", "1.2.840.10008.5.1.1.16"])
  ],
  // Basic Color Print Management Meta: the same with the Color Image Box
  [
    "1.2.840.10008.5.1.1.18",
    new Set(["1.2.840.10008.5.1.1.1", "1.2.840.10008.5.1.1.2", "1.2.840.10008.5.1.1.4.1", "1.2.840.10008.5.1.1.16"])
  ]
])

// The DIMSE-N SOP classes this module knows by name (PS3.4 F, H, J), the Meta SOP classes among them.
export const NORMALIZED_SOP_CLASSES: ReadonlySet<string> = new Set([
  "1.2.840.10008.1.20.1", // Storage Commitment Push Model
  "1.2.840.10008.3.1.2.3.3", // Modality Performed Procedure Step
  "1.2.840.10008.3.1.2.3.4", // MPPS Retrieve
  "1.2.840.10008.3.1.2.3.5", // MPPS Notification
  ...META_SOP_CLASSES.keys(),
  ...[...META_SOP_CLASSES.values()].flatMap((members) => [...members])
])

/** Whether a SOP class is one of the DIMSE-N SOP classes (Storage Commitment, MPPS, Print Management) named here. */
export const isNormalizedSopClass = (uid: string): boolean => NORMALIZED_SOP_CLASSES.has(uid)
