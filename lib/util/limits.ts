/** Limits shared by storage and the protocol. */
export const MAX_GROUP_BYTES = 0xffff
