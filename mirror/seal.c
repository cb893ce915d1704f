/* AES-256-GCM sealing of a channel direction (see seal.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "seal.h"

#define INFO_LEN 15u    /* strlen(NVMR_SEAL_INFO_P2M) */
#define AES_KEY_LEN 32u
#define GCM_IV_LEN 12u

_Static_assert(sizeof(NVMR_SEAL_INFO_P2M) - 1 == INFO_LEN, "info length");
_Static_assert(sizeof(NVMR_SEAL_INFO_M2P) - 1 == INFO_LEN, "info length");

struct nvmr_seal {
	EVP_CIPHER_CTX *ctx;
	bool encrypt;
	bool keyed;               /* ctx holds the key of `generation` */
	uint64_t generation;
	/* What the next generation's key is derived from. */
	uint8_t ikm[NVMR_KEY_MAX];
	size_t ikm_len;
	uint8_t salt[2 * NVMR_NONCE_SIZE];
	uint8_t info[INFO_LEN];
};

static void put_le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static int derive_key(const struct nvmr_seal *s, uint64_t generation,
		      uint8_t key[AES_KEY_LEN])
{
	uint8_t info[INFO_LEN + 8];
	memcpy(info, s->info, INFO_LEN);
	put_le64(info + INFO_LEN, generation);
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	EVP_KDF_free(kdf);
	if (!kctx)
		return -EIO;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						 (char *)"SHA256", 0),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						  (void *)s->ikm, s->ikm_len),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
						  (void *)s->salt,
						  sizeof(s->salt)),
		OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info,
						  sizeof(info)),
		OSSL_PARAM_construct_end(),
	};
	int ok = EVP_KDF_derive(kctx, key, AES_KEY_LEN, params);
	EVP_KDF_CTX_free(kctx);
	return ok == 1 ? 0 : -EIO;
}

/* Keys the context for the generation of seq (once per 2^32 messages). */
static int rekey(struct nvmr_seal *s, uint64_t seq)
{
	uint64_t generation = seq >> 32;
	if (s->keyed && generation == s->generation)
		return 0;
	uint8_t key[AES_KEY_LEN];
	int rc = derive_key(s, generation, key);
	if (rc == 0 && EVP_CipherInit_ex(s->ctx, EVP_aes_256_gcm(), NULL, key,
					 NULL, s->encrypt) != 1)
		rc = -EIO;
	OPENSSL_cleanse(key, sizeof(key));
	s->keyed = rc == 0;
	s->generation = generation;
	return rc;
}

int nvmr_seal_new(struct nvmr_seal **out, const struct nvmr_key *key,
		  const uint8_t nonce_primary[NVMR_NONCE_SIZE],
		  const uint8_t nonce_mirror[NVMR_NONCE_SIZE], const char *info,
		  bool encrypt, char *err, size_t errlen)
{
	struct nvmr_seal *s = calloc(1, sizeof(*s));
	if (!s || strlen(info) != INFO_LEN || key->len > sizeof(s->ikm)) {
		snprintf(err, errlen, "cannot set up sealing: %s",
			 s ? "bad parameters" : "out of memory");
		free(s);
		return -1;
	}
	s->encrypt = encrypt;
	memcpy(s->ikm, key->bytes, key->len);
	s->ikm_len = key->len;
	memcpy(s->salt, nonce_primary, NVMR_NONCE_SIZE);
	memcpy(s->salt + NVMR_NONCE_SIZE, nonce_mirror, NVMR_NONCE_SIZE);
	memcpy(s->info, info, INFO_LEN);
	s->ctx = EVP_CIPHER_CTX_new();
	if (!s->ctx || rekey(s, 0) < 0) {
		snprintf(err, errlen, "cannot set up sealing: AES-256-GCM or "
			 "HKDF-SHA256 unavailable in libcrypto");
		nvmr_seal_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

void nvmr_seal_free(struct nvmr_seal *s)
{
	if (!s)
		return;
	EVP_CIPHER_CTX_free(s->ctx);
	OPENSSL_cleanse(s, sizeof(*s));
	free(s);
}

/* Starts a message: key of its generation, nonce from seq, header as AAD. */
static int start(struct nvmr_seal *s, const struct nvmr_header *h)
{
	uint8_t iv[GCM_IV_LEN] = { 0 };
	int outl;
	put_le64(iv + 4, h->seq);
	if (rekey(s, h->seq) < 0 ||
	    EVP_CipherInit_ex(s->ctx, NULL, NULL, NULL, iv, s->encrypt) != 1 ||
	    EVP_CipherUpdate(s->ctx, NULL, &outl, (const uint8_t *)h,
			     sizeof(*h)) != 1)
		return -EIO;
	return 0;
}

int nvmr_seal_message(struct nvmr_seal *s, const struct nvmr_header *h,
		      const struct iovec *iov, int iovcnt, size_t plain_len,
		      uint8_t *out)
{
	if (!s->encrypt || start(s, h) < 0)
		return -EIO;
	size_t pos = 0;
	int outl;
	for (int i = 0; i < iovcnt; i++) {
		if (iov[i].iov_len == 0)
			continue;
		if (pos + iov[i].iov_len > plain_len ||
		    EVP_EncryptUpdate(s->ctx, out + pos, &outl, iov[i].iov_base,
				      (int)iov[i].iov_len) != 1)
			return -EIO;
		pos += (size_t)outl;
	}
	if (pos != plain_len ||
	    EVP_EncryptFinal_ex(s->ctx, out + pos, &outl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_GET_TAG, NVMR_TAG_SIZE,
				out + plain_len) != 1)
		return -EIO;
	return 0;
}

int nvmr_open_message(struct nvmr_seal *s, const struct nvmr_header *h,
		      uint8_t *buf)
{
	if (s->encrypt || h->len < NVMR_TAG_SIZE || start(s, h) < 0)
		return -EIO;
	size_t plain_len = h->len - NVMR_TAG_SIZE;
	int outl = 0;
	if (plain_len && EVP_DecryptUpdate(s->ctx, buf, &outl, buf,
					   (int)plain_len) != 1)
		return -EIO;
	if (EVP_CIPHER_CTX_ctrl(s->ctx, EVP_CTRL_GCM_SET_TAG, NVMR_TAG_SIZE,
				buf + plain_len) != 1)
		return -EIO;
	/* The tag check: the payload is trusted only if this passes. */
	if (EVP_DecryptFinal_ex(s->ctx, buf + outl, &outl) != 1)
		return -EPROTO;
	return 0;
}
