/* SPDX-License-Identifier: MIT */
/*
 * The reference tunnel's datagrams: key derivation, AEAD seal and open, the
 * replay window and session (epoch) handling. No sockets and no files here,
 * so all of it can be unit-tested and fuzzed. The format is in
 * docs/tunnel.md.
 *
 * Datagram: header (16 bytes) | ciphertext | tag (16 bytes, none for
 * --cipher none). Header: version (1 byte, 1) | counter (56 bits, big
 * endian) | epoch (64 bits, big endian). The header is the AEAD's
 * associated data; the nonce is 4 zero bytes | the counter as 64 bits, big
 * endian. Each sender session (epoch) has its own key:
 * HKDF-SHA256(ikm = the pre-shared key, salt = "tunbatch tunnel v1",
 * info = "data" | epoch as 8 bytes big endian | cipher id).
 */
#ifndef TB_TOOLS_TUNNEL_WIRE_H
#define TB_TOOLS_TUNNEL_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/uio.h>

#define TW_KEY_LEN     32
#define TW_HDR_LEN     16
#define TW_TAG_LEN     16
#define TW_VERSION     1
#define TW_WINDOW      8192		  /* counters behind the highest that are still accepted */
#define TW_COUNTER_MAX ((1ull << 56) - 1) /* the last counter a session may use */

enum tw_cipher {
	TW_AES_256_GCM,
	TW_CHACHA20_POLY1305,
	TW_NONE, /* no encryption, no authentication: for measurements only */
	TW_CIPHER_COUNT
};

/* "aes-256-gcm", "chacha20-poly1305", "none". */
const char *tw_cipher_name(enum tw_cipher c);
/* 0 and the cipher in *out, or -1 for an unknown name. */
int tw_cipher_parse(const char *name, enum tw_cipher *out);
/* Bytes a datagram adds to the packet it carries: header and tag. */
size_t tw_overhead(enum tw_cipher c);

/* Why a received datagram was dropped. */
enum tw_drop {
	TW_DROP_SHORT,	   /* shorter than a header and a tag */
	TW_DROP_VERSION,   /* an unknown version byte */
	TW_DROP_OLD_EPOCH, /* a session older than the peer's current one */
	TW_DROP_AUTH,	   /* authentication failed: wrong key, tampered, garbage */
	TW_DROP_REPLAY,	   /* seen already, or behind the replay window */
	TW_DROP_REFLECTED, /* one of our own sessions, sent back to us */
	TW_DROP_COUNT
};

/* "short", "version", "old_epoch", "auth", "replay", "reflected". */
const char *tw_drop_name(enum tw_drop d);

/* The AEAD state of one key. Opaque beyond this header's functions. */
struct tw_aead;

/*
 * Sender: one session, numbered by its epoch. The epoch must be new for
 * every start and must grow from one start to the next (see
 * tw_new_epoch), so that no (key, nonce) pair is ever used twice and the
 * receiver can tell the newest session.
 */
struct tw_sender {
	enum tw_cipher cipher;
	uint64_t epoch;
	uint64_t counter; /* the next one to use */
	struct tw_aead *aead;
};

/*
 * An epoch for a session started now: CLOCK_REALTIME nanoseconds with the
 * low 23 bits (about a millisecond) replaced by 15 random bits and the
 * queue number, so that it grows from one start to the next and two ends
 * started in the same millisecond still differ (but for a 2^-15 chance).
 * The epochs of one start's queues differ only in their low 8 bits.
 */
uint64_t tw_new_epoch(unsigned queue);

/* Derives the session key for epoch. 0, or -1 when libcrypto fails. */
int tw_derive(const uint8_t psk[TW_KEY_LEN], uint64_t epoch, enum tw_cipher c,
	      uint8_t out[TW_KEY_LEN]);

int tw_sender_init(struct tw_sender *s, enum tw_cipher c, const uint8_t psk[TW_KEY_LEN],
		   uint64_t epoch);
void tw_sender_free(struct tw_sender *s);

/*
 * Seals the packet made of iov[0..iovcnt) into out: header, ciphertext,
 * tag. Returns the datagram's length, -ENOBUFS when out_size is too small,
 * -EOVERFLOW when the session's counters are used up (start a new session),
 * or -EIO when libcrypto fails.
 */
long tw_seal(struct tw_sender *s, const struct iovec *iov, unsigned iovcnt, uint8_t *out,
	     size_t out_size);

/* Receiver: the peer's current session and its replay window. */
struct tw_receiver {
	enum tw_cipher cipher;
	uint8_t psk[TW_KEY_LEN];
	int have_session;
	uint64_t epoch;			   /* the peer's current session */
	uint64_t highest;		   /* the highest counter accepted in it */
	uint64_t bits[TW_WINDOW / 64 + 1]; /* a ring: bit (c % size) is counter c, seen */
	struct tw_aead *cur;		   /* keyed for epoch */
	struct tw_aead *next;		   /* keyed for next_epoch: a newer session being tried */
	uint64_t next_epoch;
	int have_next;
	uint64_t own; /* our own sending epochs, low 8 bits (the queue) ignored */
	int have_own;
	uint64_t sessions; /* sessions accepted (the first, then every newer one) */
	uint64_t accepted;
	uint64_t drops[TW_DROP_COUNT];
};

int tw_receiver_init(struct tw_receiver *r, enum tw_cipher c, const uint8_t psk[TW_KEY_LEN]);
/*
 * Both ends derive keys from the same pre-shared key, so a datagram of ours
 * sent back to us would authenticate: the receiver refuses every epoch that
 * differs from ours only in its low 8 bits.
 */
void tw_receiver_own(struct tw_receiver *r, uint64_t own_epoch);
void tw_receiver_free(struct tw_receiver *r);

/* An opened datagram: the plaintext, in place, and its sender's order key. */
struct tw_opened {
	uint8_t *data;
	size_t len;
	uint64_t epoch;
	uint64_t counter;
	int new_session; /* this datagram started a newer session of the peer */
};

/*
 * Authenticates and decrypts a datagram in place, then checks it against
 * the replay window. Only a datagram that authenticates moves the window or
 * switches to a newer session. Returns -1 when accepted (out is filled), or
 * the enum tw_drop it was dropped for (also counted in r->drops). Reads
 * nothing outside dgram[0..len).
 */
int tw_open(struct tw_receiver *r, uint8_t *dgram, size_t len, struct tw_opened *out);

/*
 * Queue q talks to the peer's port PORT + q. Moves the port of a (AF_INET or
 * AF_INET6) by delta: 0, or -ERANGE, a unchanged, when the result would not
 * be a port from 1 to 65535 (a peer behind NAT can come from any port, so
 * its PORT - q may not exist), -EAFNOSUPPORT for another family.
 */
int tw_port_shift(struct sockaddr_storage *a, int delta);

/* Keys: 32 bytes as 44 characters of base64. */
#define TW_KEY_B64_LEN 44
/* Decodes a key from text (surrounding white space allowed). 0, or -1. */
int tw_key_decode(const char *text, uint8_t key[TW_KEY_LEN]);
void tw_key_encode(const uint8_t key[TW_KEY_LEN], char out[TW_KEY_B64_LEN + 1]);
/* A random key from libcrypto's generator. 0, or -1. */
int tw_key_random(uint8_t key[TW_KEY_LEN]);

#endif
