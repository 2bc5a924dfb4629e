/* SPDX-License-Identifier: MIT */
/* The reference tunnel's datagrams: see tunnel_wire.h and docs/tunnel.md. */
#define _GNU_SOURCE
#include "tunnel_wire.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define NONCE_LEN 12
#define RING	  (TW_WINDOW / 64 + 1) /* blocks of the replay ring */

static const char *const cipher_names[TW_CIPHER_COUNT] = {"aes-256-gcm", "chacha20-poly1305",
							  "none"};
static const char *const drop_names[TW_DROP_COUNT] = {"short", "version", "old_epoch",
						      "auth",  "replay",  "reflected"};

const char *tw_cipher_name(enum tw_cipher c)
{
	return (unsigned)c < TW_CIPHER_COUNT ? cipher_names[c] : "unknown";
}

int tw_cipher_parse(const char *name, enum tw_cipher *out)
{
	for (unsigned i = 0; i < TW_CIPHER_COUNT; i++)
		if (!strcmp(name, cipher_names[i])) {
			*out = (enum tw_cipher)i;
			return 0;
		}
	return -1;
}

size_t tw_overhead(enum tw_cipher c)
{
	return TW_HDR_LEN + (c == TW_NONE ? 0 : TW_TAG_LEN);
}

const char *tw_drop_name(enum tw_drop d)
{
	return (unsigned)d < TW_DROP_COUNT ? drop_names[d] : "unknown";
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

struct tw_aead {
	EVP_CIPHER_CTX *ctx;
	int enc;
};

static const EVP_CIPHER *evp_cipher(enum tw_cipher c)
{
	return c == TW_CHACHA20_POLY1305 ? EVP_chacha20_poly1305() : EVP_aes_256_gcm();
}

int tw_derive(const uint8_t psk[TW_KEY_LEN], uint64_t epoch, enum tw_cipher c,
	      uint8_t out[TW_KEY_LEN])
{
	static const char salt[] = "tunbatch tunnel v1";
	uint8_t info[4 + 8 + 1] = {'d', 'a', 't', 'a'};
	EVP_PKEY_CTX *k = EVP_PKEY_CTX_new_id(EVP_PKEY_HKDF, NULL);
	size_t outlen = TW_KEY_LEN;
	int ok;

	for (int i = 0; i < 8; i++)
		info[4 + i] = (uint8_t)(epoch >> (56 - 8 * i));
	info[12] = (uint8_t)c; /* a key never serves two ciphers */
	ok = k && EVP_PKEY_derive_init(k) > 0 && EVP_PKEY_CTX_set_hkdf_md(k, EVP_sha256()) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_salt(k, (const unsigned char *)salt, sizeof(salt) - 1) > 0 &&
	     EVP_PKEY_CTX_set1_hkdf_key(k, psk, TW_KEY_LEN) > 0 &&
	     EVP_PKEY_CTX_add1_hkdf_info(k, info, sizeof(info)) > 0 &&
	     EVP_PKEY_derive(k, out, &outlen) > 0 && outlen == TW_KEY_LEN;
	EVP_PKEY_CTX_free(k);
	return ok ? 0 : -1;
}

static void aead_free(struct tw_aead *a)
{
	if (!a)
		return;
	EVP_CIPHER_CTX_free(a->ctx);
	free(a);
}

/* Keys a new or existing AEAD state for epoch. */
static int aead_key(struct tw_aead **ap, enum tw_cipher c, const uint8_t psk[TW_KEY_LEN],
		    uint64_t epoch, int enc)
{
	uint8_t key[TW_KEY_LEN];
	struct tw_aead *a = *ap;
	int ok;

	if (!a) {
		a = calloc(1, sizeof(*a));
		if (!a || !(a->ctx = EVP_CIPHER_CTX_new())) {
			free(a);
			return -1;
		}
		a->enc = enc;
		*ap = a;
	}
	if (tw_derive(psk, epoch, c, key))
		return -1;
	ok = EVP_CipherInit_ex(a->ctx, evp_cipher(c), NULL, key, NULL, enc) > 0;
	OPENSSL_cleanse(key, sizeof(key));
	return ok ? 0 : -1;
}

static void nonce(uint8_t n[NONCE_LEN], uint64_t counter)
{
	memset(n, 0, 4);
	for (int i = 0; i < 8; i++)
		n[4 + i] = (uint8_t)(counter >> (56 - 8 * i));
}

uint64_t tw_new_epoch(unsigned queue)
{
	struct timespec ts;
	uint16_t r = 0;

	clock_gettime(CLOCK_REALTIME, &ts);
	if (RAND_bytes((unsigned char *)&r, sizeof(r)) != 1)
		r = (uint16_t)ts.tv_nsec;
	return (((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec) & ~0x7fffffull) |
	       (uint64_t)(r & 0x7fff) << 8 | (queue & 0xff);
}

/* ------------------------------------------------------------------------ */
/* Sender                                                                   */
/* ------------------------------------------------------------------------ */

int tw_sender_init(struct tw_sender *s, enum tw_cipher c, const uint8_t psk[TW_KEY_LEN],
		   uint64_t epoch)
{
	*s = (struct tw_sender){.cipher = c, .epoch = epoch};
	if (c == TW_NONE)
		return 0;
	if (aead_key(&s->aead, c, psk, epoch, 1)) {
		tw_sender_free(s);
		return -1;
	}
	return 0;
}

void tw_sender_free(struct tw_sender *s)
{
	aead_free(s->aead);
	s->aead = NULL;
}

static void put_header(uint8_t *h, uint64_t counter, uint64_t epoch)
{
	h[0] = TW_VERSION;
	for (int i = 0; i < 7; i++)
		h[1 + i] = (uint8_t)(counter >> (48 - 8 * i));
	for (int i = 0; i < 8; i++)
		h[8 + i] = (uint8_t)(epoch >> (56 - 8 * i));
}

long tw_seal(struct tw_sender *s, const struct iovec *iov, unsigned iovcnt, uint8_t *out,
	     size_t out_size)
{
	size_t len = 0, off = TW_HDR_LEN, need;
	uint8_t n[NONCE_LEN];
	EVP_CIPHER_CTX *ctx;
	int l;

	for (unsigned i = 0; i < iovcnt; i++)
		len += iov[i].iov_len;
	need = len + tw_overhead(s->cipher);
	if (need > out_size)
		return -ENOBUFS;
	if (s->counter > TW_COUNTER_MAX)
		return -EOVERFLOW;
	put_header(out, s->counter, s->epoch);
	if (s->cipher == TW_NONE) {
		for (unsigned i = 0; i < iovcnt; i++) {
			memcpy(out + off, iov[i].iov_base, iov[i].iov_len);
			off += iov[i].iov_len;
		}
		s->counter++;
		return (long)need;
	}
	ctx = s->aead->ctx;
	nonce(n, s->counter);
	if (EVP_EncryptInit_ex(ctx, NULL, NULL, NULL, n) <= 0 ||
	    EVP_EncryptUpdate(ctx, NULL, &l, out, TW_HDR_LEN) <= 0)
		return -EIO;
	for (unsigned i = 0; i < iovcnt; i++) {
		if (!iov[i].iov_len)
			continue;
		if (EVP_EncryptUpdate(ctx, out + off, &l, iov[i].iov_base, (int)iov[i].iov_len) <=
		    0)
			return -EIO;
		off += (size_t)l;
	}
	if (EVP_EncryptFinal_ex(ctx, out + off, &l) <= 0)
		return -EIO;
	off += (size_t)l;
	if (off != TW_HDR_LEN + len ||
	    EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, TW_TAG_LEN, out + off) <= 0)
		return -EIO;
	s->counter++;
	return (long)need;
}

/* ------------------------------------------------------------------------ */
/* Receiver                                                                 */
/* ------------------------------------------------------------------------ */

int tw_receiver_init(struct tw_receiver *r, enum tw_cipher c, const uint8_t psk[TW_KEY_LEN])
{
	memset(r, 0, sizeof(*r));
	r->cipher = c;
	memcpy(r->psk, psk, TW_KEY_LEN);
	return 0;
}

void tw_receiver_own(struct tw_receiver *r, uint64_t own_epoch)
{
	r->own = own_epoch;
	r->have_own = 1;
}

void tw_receiver_free(struct tw_receiver *r)
{
	aead_free(r->cur);
	aead_free(r->next);
	r->cur = r->next = NULL;
	OPENSSL_cleanse(r->psk, sizeof(r->psk));
}

static int drop(struct tw_receiver *r, enum tw_drop d)
{
	r->drops[d]++;
	return (int)d;
}

/* 1 when counter c of the current session was seen or is behind the window. */
static int replayed(const struct tw_receiver *r, uint64_t c)
{
	if (c > r->highest)
		return 0;
	if (r->highest - c >= TW_WINDOW)
		return 1;
	return (int)(r->bits[(c >> 6) % RING] >> (c & 63) & 1);
}

static void mark(struct tw_receiver *r, uint64_t c)
{
	if (c > r->highest) {
		/* Clear the blocks the window slides over, at most the whole ring. */
		uint64_t from = r->highest >> 6, to = c >> 6;
		uint64_t n = to - from > RING ? RING : to - from;
		for (uint64_t i = 1; i <= n; i++)
			r->bits[(from + i) % RING] = 0;
		r->highest = c;
	}
	r->bits[(c >> 6) % RING] |= 1ull << (c & 63);
}

/* Decrypts in place and checks the tag. 0 when authentic. */
static int aead_open(struct tw_aead *a, const uint8_t *hdr, uint64_t counter, uint8_t *ct,
		     size_t ct_len, uint8_t *tag)
{
	EVP_CIPHER_CTX *ctx = a->ctx;
	uint8_t n[NONCE_LEN];
	int l;

	nonce(n, counter);
	if (EVP_DecryptInit_ex(ctx, NULL, NULL, NULL, n) <= 0 ||
	    EVP_DecryptUpdate(ctx, NULL, &l, hdr, TW_HDR_LEN) <= 0)
		return -1;
	if (ct_len && EVP_DecryptUpdate(ctx, ct, &l, ct, (int)ct_len) <= 0)
		return -1;
	if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, TW_TAG_LEN, tag) <= 0)
		return -1;
	return EVP_DecryptFinal_ex(ctx, ct + ct_len, &l) > 0 ? 0 : -1;
}

int tw_open(struct tw_receiver *r, uint8_t *dgram, size_t len, struct tw_opened *out)
{
	size_t tag_len = r->cipher == TW_NONE ? 0 : TW_TAG_LEN, ct_len;
	uint64_t counter = 0, epoch = 0;
	int newer;

	if (len < TW_HDR_LEN + tag_len)
		return drop(r, TW_DROP_SHORT);
	if (dgram[0] != TW_VERSION)
		return drop(r, TW_DROP_VERSION);
	for (int i = 0; i < 7; i++)
		counter = counter << 8 | dgram[1 + i];
	for (int i = 0; i < 8; i++)
		epoch = epoch << 8 | dgram[8 + i];
	if (r->have_own && epoch >> 8 == r->own >> 8)
		return drop(r, TW_DROP_REFLECTED);
	if (r->have_session && epoch < r->epoch)
		return drop(r, TW_DROP_OLD_EPOCH);
	newer = !r->have_session || epoch > r->epoch;
	if (!newer && replayed(r, counter))
		return drop(r, TW_DROP_REPLAY);
	ct_len = len - TW_HDR_LEN - tag_len;
	if (r->cipher != TW_NONE) {
		struct tw_aead *a = r->cur;
		if (newer) {
			/* A candidate session: keyed once, kept until one authenticates. */
			if (!r->have_next || r->next_epoch != epoch) {
				r->have_next = 0;
				if (aead_key(&r->next, r->cipher, r->psk, epoch, 0))
					return drop(r, TW_DROP_AUTH);
				r->next_epoch = epoch;
				r->have_next = 1;
			}
			a = r->next;
		}
		if (aead_open(a, dgram, counter, dgram + TW_HDR_LEN, ct_len,
			      dgram + TW_HDR_LEN + ct_len))
			return drop(r, TW_DROP_AUTH);
	}
	if (newer) {
		struct tw_aead *t = r->cur;
		r->cur = r->next;
		r->next = t;
		r->have_next = 0;
		r->have_session = 1;
		r->epoch = epoch;
		r->highest = counter;
		memset(r->bits, 0, sizeof(r->bits));
		r->sessions++;
	}
	mark(r, counter);
	r->accepted++;
	*out = (struct tw_opened){.data = dgram + TW_HDR_LEN,
				  .len = ct_len,
				  .epoch = epoch,
				  .counter = counter,
				  .new_session = newer};
	return -1;
}

/* ------------------------------------------------------------------------ */
/* Key text                                                                 */
/* ------------------------------------------------------------------------ */

int tw_key_decode(const char *text, uint8_t key[TW_KEY_LEN])
{
	unsigned char buf[TW_KEY_B64_LEN + 1], raw[36];
	size_t n;

	while (*text && isspace((unsigned char)*text))
		text++;
	n = strlen(text);
	while (n && isspace((unsigned char)text[n - 1]))
		n--;
	if (n != TW_KEY_B64_LEN || text[n - 1] != '=' || text[n - 2] == '=')
		return -1;
	memcpy(buf, text, n);
	buf[n] = 0;
	/* EVP_DecodeBlock keeps the padding's zero byte: 33 bytes for 32. */
	if (EVP_DecodeBlock(raw, buf, (int)n) != 33)
		return -1;
	memcpy(key, raw, TW_KEY_LEN);
	OPENSSL_cleanse(raw, sizeof(raw));
	return 0;
}

void tw_key_encode(const uint8_t key[TW_KEY_LEN], char out[TW_KEY_B64_LEN + 1])
{
	EVP_EncodeBlock((unsigned char *)out, key, TW_KEY_LEN);
	out[TW_KEY_B64_LEN] = 0;
}

int tw_key_random(uint8_t key[TW_KEY_LEN])
{
	return RAND_bytes(key, TW_KEY_LEN) == 1 ? 0 : -1;
}

int tw_port_shift(struct sockaddr_storage *a, int delta)
{
	uint16_t *port;
	long p;

	if (a->ss_family == AF_INET)
		port = &((struct sockaddr_in *)a)->sin_port;
	else if (a->ss_family == AF_INET6)
		port = &((struct sockaddr_in6 *)a)->sin6_port;
	else
		return -EAFNOSUPPORT;
	p = (long)ntohs(*port) + delta;
	if (p < 1 || p > 65535)
		return -ERANGE;
	*port = htons((uint16_t)p);
	return 0;
}
