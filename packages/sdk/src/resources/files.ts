import type { RequestOptions } from "../http.js";
import { downloadToPath, upload, type DownloadOptions, type UploadedFile, type UploadOptions, type UploadSource } from "../transfer/index.js";
import type { DecryptionKey } from "../encryption/keys.js";
import type { OpenedFile } from "../encryption/seal.js";
import { SpeedyFilesError } from "../errors.js";
import type { Core } from "./core.js";
import { fileDecryption } from "./links.js";
import type { PackagesResource } from "./packages.js";

/** A download of one of your files; `file` and `key` decrypt a file of an encrypted package. */
export type OwnerDownloadOptions = DownloadOptions & {
  /** The file as openView gave it (with `ciphertext`): its plaintext size and SHA-256 are checked. */
  file?: OpenedFile | undefined;
  key?: DecryptionKey | undefined;
};

/** `sf.files`: the files of your packages. */
export function filesResource(core: Core, packages: Pick<PackagesResource, "get">) {
  const packageUrl = (packageId: string) => `${core.baseUrl}/api/v1/packages/${encodeURIComponent(packageId)}`;
  const files = {
    /**
     * Streams one file into a draft package. `source` is a path, a Readable, a Blob or a Buffer.
     * The SHA-256 computed while sending must match the server's, else the file is removed and a
     * ChecksumError thrown.
     */
    upload: (packageId: string, source: UploadSource, opts: UploadOptions = {}): Promise<UploadedFile> => {
      // Without a token provider a missing token throws at once, as it always did.
      const ctx = core.uploadContext(opts.signal);
      return Promise.resolve(ctx).then((c) =>
        upload({ base: packageUrl(packageId), onMismatch: (fileId) => files.delete(packageId, fileId) }, source, opts, c).then((r) => r.file),
      );
    },
    /**
     * Downloads a file of your package to `dest`, resumable and checksum-verified. A file of an
     * encrypted package (an inbound one encrypted to your key): pass `file`, the OpenedFile from
     * `openView(await sf.packages.get(id), key)`, and `key`; it is decrypted on the way, checked
     * against its plaintext SHA-256, and nothing is left at `dest` on failure.
     */
    download: async (packageId: string, fileId: string, dest: string, opts: OwnerDownloadOptions = {}): Promise<{ size: number; sha256: string }> => {
      const ctx = await core.transfer(opts.signal);
      const url = `${packageUrl(packageId)}/files/${encodeURIComponent(fileId)}`;
      if (opts.file?.ciphertext) {
        const pkg = await packages.get(packageId, opts.signal ? { signal: opts.signal } : {});
        if (!pkg.encryption) throw new SpeedyFilesError("this file has a ciphertext description, but its package is not encrypted");
        const { file, key, sha256: _ignored, ...rest } = opts;
        return downloadToPath(url, dest, rest, ctx, fileDecryption(pkg.encryption, key, file));
      }
      let sha256 = opts.sha256;
      if (!sha256) {
        const pkg = await packages.get(packageId, opts.signal ? { signal: opts.signal } : {});
        sha256 = pkg.files.find((f) => f.id === fileId)?.sha256;
      }
      const { file: _file, key: _key, ...plain } = opts;
      return downloadToPath(url, dest, { ...plain, ...(sha256 ? { sha256 } : {}) }, ctx);
    },
    delete: async (packageId: string, fileId: string, o?: RequestOptions): Promise<void> => {
      await core.call(core.api.DELETE("/packages/{id}/files/{file_id}", { params: { path: { id: packageId, file_id: fileId } }, ...core.init(o) }));
    },
  };
  return files;
}

export type FilesResource = ReturnType<typeof filesResource>;
