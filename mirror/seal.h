/*
 * Sealing of one direction of a channel: AES-256-GCM over each message's
 * payload, the header as additional authenticated data, the 16-byte tag
 * after the ciphertext.
 *
 * Keys: HKDF-SHA256 with the shared key as input key material, the salt
 * nonce_primary | nonce_mirror (the handshake's two nonces, 64 bytes),
 * and the info "nvmpfs seal p2m" (primary to mirror) or "nvmpfs seal m2p"
 * (15 bytes, no NUL) followed by the key generation as a little-endian
 * u64, where the generation of a message is its seq >> 32: a key seals
 * at most 2^32 messages, then the next one is derived.  The 96-bit GCM
 * nonce is 4 zero bytes then the header's seq (little-endian), unique per
 * key since seq never repeats in a direction.
 */
#ifndef NVMPFS_MIRROR_SEAL_H
#define NVMPFS_MIRROR_SEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "channel.h"

#define NVMR_SEAL_INFO_P2M "nvmpfs seal p2m"
#define NVMR_SEAL_INFO_M2P "nvmpfs seal m2p"

struct nvmr_seal;

/*
 * A sealer (encrypt) or opener (!encrypt) for one direction; info is one
 * of the two strings above.  0, or -1 with a message.
 */
int nvmr_seal_new(struct nvmr_seal **out, const struct nvmr_key *key,
		  const uint8_t nonce_primary[NVMR_NONCE_SIZE],
		  const uint8_t nonce_mirror[NVMR_NONCE_SIZE], const char *info,
		  bool encrypt, char *err, size_t errlen);
void nvmr_seal_free(struct nvmr_seal *s);

/*
 * Seals the payload gathered from iov (plain_len bytes) under header h
 * (whose len is plain_len + NVMR_TAG_SIZE and whose seq picks key and
 * nonce) into out: the ciphertext then the tag.  0 or -EIO.
 */
int nvmr_seal_message(struct nvmr_seal *s, const struct nvmr_header *h,
		      const struct iovec *iov, int iovcnt, size_t plain_len,
		      uint8_t *out);

/*
 * Opens a sealed payload in place: buf holds h->len bytes (ciphertext
 * then tag); on success the first h->len - NVMR_TAG_SIZE bytes are the
 * plain payload.  -EPROTO when the tag does not match (tampered, another
 * key, replayed or reordered), -EIO on a library failure.
 */
int nvmr_open_message(struct nvmr_seal *s, const struct nvmr_header *h,
		      uint8_t *buf);

#endif
