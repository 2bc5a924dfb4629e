/* SPDX-License-Identifier: MIT */
/*
 * Kernel tests: network namespaces that are always removed, a time bound,
 * and a few helpers to configure what lives inside them.
 *
 * nsu_main() forks: the child runs the test, the parent waits (at most the
 * time bound), then deletes every namespace named tb*_<its pid> whatever
 * happened to the child: a crash, a sanitizer report, a signal, a hang.
 */
#ifndef TB_NSUTIL_H
#define TB_NSUTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define NSU_SKIP 77

/*
 * Runs fn in a child, at most timeout_s seconds, and returns the exit code
 * to give: fn's return value (0 pass, 1 fail, 77 skip), 1 if it crashed or
 * ran out of time. Skips (77) when not root, or without /dev/net/tun or ip.
 */
int nsu_main(const char *test, int (*fn)(void), unsigned timeout_s);

/* Prints a failure with its location and ends the test (the parent cleans up). */
#define NSU_FAIL(...) nsu_fail(__FILE__, __LINE__, __VA_ARGS__)
#define NSU_CHECK(cond, ...)                                                                       \
	do {                                                                                       \
		if (!(cond))                                                                       \
			NSU_FAIL(__VA_ARGS__);                                                     \
	} while (0)
void nsu_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4), noreturn));
/* Ends the test as skipped. */
void nsu_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* Creates namespace tb<tag>_<pid of the parent> with lo up; its name in out. */
void nsu_create(const char *tag, char *out, size_t outlen);
/* Moves the calling thread into a namespace (NULL: back to the first one). */
void nsu_enter(const char *name);
/* Runs a shell command built from fmt; returns its exit status. */
int nsu_sh(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same, failing the test when the command fails. */
void nsu_run(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes a value to a /proc/sys path, in the calling thread's namespace. */
void nsu_sysctl(const char *path, const char *value);
/* The current namespace as a router between two TUN devices: IPv4 and IPv6
 * forwarding on, no reverse-path filter, no link-local addresses (fewer
 * packets of the stack's own). */
void nsu_router(void);

/* ip (IPv4, or IPv6 when it has a colon) and port as a socket address. */
void nsu_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len);

/* A seeded generator (xorshift64*), the same on both ends of a stream. */
static inline uint64_t nsu_rand(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return *s * 0x2545f4914f6cdd1dull;
}

/* Fills buf with the stream bytes [off, off + len) of a seeded stream. */
void nsu_stream(uint64_t seed, uint64_t off, uint8_t *buf, size_t len);

/*
 * A seeded TCP stream through whatever the test put between two sockets,
 * every byte checked. The test fills lfd (listening) and cfd (connected
 * client), bytes, seed and idle_s, then runs nsu_tcp_server and
 * nsu_tcp_client in two threads; fail says what went wrong (NULL: nothing),
 * fail_at at which byte.
 */
struct nsu_tcp {
	const char *name; /* for the test's messages; may be NULL */
	int lfd, cfd;
	uint64_t bytes, seed;
	unsigned idle_s;	    /* seconds a send or receive may wait */
	_Atomic uint64_t *progress; /* bytes checked so far, or NULL */
	uint64_t received;
	const char *fail; /* a static message, or NULL */
	uint64_t fail_at;
};
/* SO_RCVTIMEO and SO_SNDTIMEO of seconds on fd. */
void nsu_tcp_timeouts(int fd, unsigned seconds);
void *nsu_tcp_client(void *arg); /* sends the stream on cfd, then shuts down writing */
void *nsu_tcp_server(void *arg); /* accepts one connection on lfd, checks every byte */

/* True when the IPv4 header checksum (if any) and the TCP/UDP checksum hold. */
int nsu_csum_ok(const uint8_t *pkt, size_t len);

#endif
