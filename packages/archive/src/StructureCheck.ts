/**
 * The structural check of a data set as it is written (PS3.5 section 7, A.5): its element headers walked as the
 * bytes come (`wire/ElementWalker`, constant memory), a deflated one inflated on the way (node:zlib, at most
 * `INFLATED_LIMIT` bytes). The storage SCPs (`Archive`, `PlainStore`) refuse what it finds wrong; `netdicom get`
 * refuses the C-STOREs of its C-GETs the same way.
 *
 * @since 0.2.0
 */
export { checkOf, type DataSetCheck, INFLATED_LIMIT } from "./internal/Storing.ts"
