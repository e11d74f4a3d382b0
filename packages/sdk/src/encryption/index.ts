// End-to-end encryption: age v1 files made on the client, keys the server never sees.
export { generateIdentity, identityToRecipient, splitLinkKey, withLinkKey, isIdentity, isRecipient, type DecryptionKey, type EncryptionKey } from "./keys.js";
export { sealBytes, sealEntry, openView, decrypterFor, type Encryption, type OpenedFile, type PlainFileMeta } from "./seal.js";
export { AgeEncryptTransform, payloadSize, AGE_CHUNK } from "./stream.js";
export type { FileDecryption } from "./decrypt.js";
