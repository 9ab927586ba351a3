/** The MLLP servers bench/mllp.ts compares; each runs via bench/mllp-server.ts <kind>. */
export const SERVER_KINDS = ['sluice', 'simple-hl7', 'medplum', 'echo'] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];
