/* SPDX-License-Identifier: MIT */
/*
 * tunbatch: make userspace tunnels fast with the offloads of the Linux TUN
 * device.
 *
 * Carrier to TUN: a multi-lane coalescer merges the plaintext packets of a
 * receive burst into TSO/USO superpackets described by a virtio_net_hdr.
 * TUN to carrier: superpackets read from TUN are cut back into MTU-sized
 * packets with correct headers and checksums.
 *
 * Nothing here is thread-safe: use one coalescer (and one arena) per TUN
 * queue and per thread.
 *
 * Errors, one convention throughout:
 * - a function that makes an object (tb_*_create, tb_*_open, tb_tun_attach)
 *   returns it, or NULL with errno set (ENOMEM, EINVAL, or the system's own
 *   code such as EADDRINUSE or EPERM);
 * - any other function returning a pointer returns NULL with errno set;
 * - a function returning int returns 0 (or a count) on success and a
 *   negative errno on failure;
 * - tb_vnet_validate is a check, not an action: it returns its verdict,
 *   TB_VNET_OK (0) or the first reason a header is refused.
 * Destroy and close functions take NULL and do nothing.
 *
 * ABI: libtunbatch.so.0; every exported symbol carries a version node
 * (TUNBATCH_0.1, ...) and a new release only adds nodes. The opaque objects
 * grow freely. The public structs a caller allocates or fills (options,
 * writers, statistics) end in reserved members: zero-initialize them
 * (= {0} or designated initializers). A later release gives reserved members
 * a meaning whose zero value is the old behaviour; until then the library
 * refuses a non-zero one with EINVAL, and writes statistics' as zero.
 * Statistics arrays indexed by an enum have room past its count.
 * struct tb_superpacket is made only by the library, so members may be
 * appended; struct tb_tun_pkt and struct tb_dgram are handed out in arrays,
 * so their size is fixed for the life of the soname; struct tb_vnet_hdr is
 * the virtio layout.
 */
#ifndef TUNBATCH_H
#define TUNBATCH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>

#ifdef __cplusplus
extern "C" {
#endif

/* TB_VERSION_MAJOR, _MINOR, _PATCH, _STRING, _NUMBER and TB_VERSION_AT(),
 * generated from the project version. */
#include "tunbatch_version.h"

/* The version of the library actually linked, e.g. "0.1.0". */
const char *tb_version(void);

/* ------------------------------------------------------------------------ */
/* Checksums (RFC 1071)                                                     */
/* ------------------------------------------------------------------------ */

/*
 * Adds len bytes to a ones'-complement running sum and returns the new
 * 32-bit partial sum. Pieces may be chained; every piece but the last must
 * have an even length. The sum is in memory byte order: store the folded
 * result with memcpy and it lands in network order.
 */
uint32_t tb_csum_partial(const void *buf, size_t len, uint32_t sum);

/* Folds a partial sum to 16 bits. Not inverted. */
uint16_t tb_csum_fold(uint32_t sum);

/* ------------------------------------------------------------------------ */
/* virtio_net_hdr: the 10-byte legacy header in front of every TUN packet   */
/* opened with IFF_VNET_HDR (host byte order)                               */
/* ------------------------------------------------------------------------ */

#define TB_VNET_HDR_LEN 10

enum {
	TB_VNET_F_NEEDS_CSUM = 1, /* csum_start/csum_offset are meaningful */
	TB_VNET_F_DATA_VALID = 2,
};

enum {
	TB_GSO_NONE = 0,
	TB_GSO_TCPV4 = 1,
	TB_GSO_UDP = 3, /* UFO: IP fragmentation, not used by tunbatch */
	TB_GSO_TCPV6 = 4,
	TB_GSO_UDP_L4 = 5, /* USO: Linux 6.2+ */
	TB_GSO_ECN = 0x80, /* flag: the sender set CWR */
};

struct tb_vnet_hdr {
	uint8_t flags;
	uint8_t gso_type;
	uint16_t hdr_len;     /* IP + L4 header bytes */
	uint16_t gso_size;    /* payload bytes per segment */
	uint16_t csum_start;  /* offset of the L4 header */
	uint16_t csum_offset; /* of the checksum field from csum_start */
};

void tb_vnet_encode(const struct tb_vnet_hdr *h, uint8_t out[TB_VNET_HDR_LEN]);
void tb_vnet_decode(const uint8_t in[TB_VNET_HDR_LEN], struct tb_vnet_hdr *h);

/* ------------------------------------------------------------------------ */
/* Arena: one slab per burst, reset all at once                             */
/* ------------------------------------------------------------------------ */

/* One receive burst of worst-case packets. */
#define TB_ARENA_DEFAULT_SIZE ((size_t)64 * 65535)

struct tb_arena;

/* size 0 means TB_ARENA_DEFAULT_SIZE. NULL with errno ENOMEM when out of memory. */
struct tb_arena *tb_arena_create(size_t size);
void tb_arena_destroy(struct tb_arena *a);

/*
 * A buffer of size bytes (16-byte aligned) that stays valid until the next
 * reset. When the slab is full the arena chains another chunk rather than
 * moving what it handed out; the next reset consolidates the chunks into one
 * slab, so a steady state makes no allocation. NULL with errno ENOMEM
 * when out of memory or when size is above SIZE_MAX / 2.
 */
void *tb_arena_reserve(struct tb_arena *a, size_t size);

/* Takes back every buffer. */
void tb_arena_reset(struct tb_arena *a);

size_t tb_arena_capacity(const struct tb_arena *a); /* bytes, all chunks */
size_t tb_arena_used(const struct tb_arena *a);
unsigned tb_arena_chunks(const struct tb_arena *a);

/* ------------------------------------------------------------------------ */
/* Writers: where superpackets and packets go                               */
/* ------------------------------------------------------------------------ */

enum {
	TB_CAP_TSO = 1u << 0, /* accepts TCPv4/TCPv6 superpackets */
	TB_CAP_USO = 1u << 1, /* accepts UDP_L4 superpackets */
};

/* A superpacket: patched headers plus payload iovecs into caller memory. */
struct tb_superpacket {
	struct tb_vnet_hdr vnet;
	const uint8_t *hdr; /* IP header then L4 header; vnet.hdr_len bytes */
	const struct iovec *payload;
	unsigned n_payload; /* one iovec per segment */
	size_t len;	    /* header + payload bytes */
};

/*
 * Embed this in your own writer and recover it with container_of.
 * write: one plain packet (behind an all-zero virtio header on a TUN device
 * with virtio headers, bare on one without).
 * write_gso: one superpacket.
 * Both return 0 or a negative errno. Both are called synchronously. The
 * packet bytes they are shown (pkt, and what the payload iovecs point at)
 * stay valid until the coalescer's flush returns; the struct tb_superpacket
 * itself, its hdr bytes and its payload array are valid only during the
 * call, reused for the next superpacket: copy them to keep them.
 */
struct tb_writer {
	int (*write)(struct tb_writer *w, const void *pkt, size_t len);
	int (*write_gso)(struct tb_writer *w, const struct tb_superpacket *sp);
	unsigned caps;	   /* TB_CAP_* */
	void *reserved[4]; /* NULL: room for later callbacks */
};

/* In-memory capture writer, for tests and tools. Records every write. */
struct tb_capture;

struct tb_capture *tb_capture_create(unsigned caps);
void tb_capture_destroy(struct tb_capture *c);
struct tb_writer *tb_capture_writer(struct tb_capture *c);
size_t tb_capture_count(const struct tb_capture *c);
/* Record i (in write order): its bytes without the virtio header. NULL
 * with errno EINVAL when i is not below tb_capture_count. The writer
 * refuses a superpacket whose len is not hdr_len plus its payload iovecs
 * with -EINVAL, before it copies anything. */
const uint8_t *tb_capture_get(const struct tb_capture *c, size_t i, size_t *len,
			      struct tb_vnet_hdr *vnet);
void tb_capture_clear(struct tb_capture *c);

/*
 * pcap writer: one LINKTYPE_RAW record per write, the bytes as they would go
 * to TUN without the virtio header. vnet_log (may be NULL) gets one JSON
 * object per record describing its virtio header. A write returns -EIO when
 * its pcap record can't be written, and -EINVAL, writing nothing, for a
 * superpacket whose pieces do not add up to its len. A log line that can't be written does
 * not fail the write (the record is in the pcap file, and the coalescer
 * would write its packets again): the log stops there, one line per record
 * up to the failure, and ferror(vnet_log) tells it is incomplete. Neither
 * file is closed by destroy, which flushes both.
 */
struct tb_pcap_writer;

struct tb_pcap_writer *tb_pcap_writer_create(FILE *pcap, FILE *vnet_log, unsigned caps);
struct tb_writer *tb_pcap_writer_writer(struct tb_pcap_writer *p);
void tb_pcap_writer_destroy(struct tb_pcap_writer *p);

/* ------------------------------------------------------------------------ */
/* The coalescer                                                            */
/* ------------------------------------------------------------------------ */

enum tb_lane {
	TB_LANE_TCP,
	TB_LANE_UDP,
	TB_LANE_PASS,
	TB_LANE_COUNT,
};

/* Room in struct tb_stats for later lanes and reasons. */
#define TB_STATS_LANES 8
#define TB_STATS_WHYS  32

/* Why a chain was sealed, or a packet not merged. */
enum tb_why {
	TB_WHY_FLUSH,	    /* the burst ended: open chain written at flush */
	TB_WHY_PSH,	    /* PSH closed the chain (it is carried) */
	TB_WHY_SHORT,	    /* a short segment closed the chain */
	TB_WHY_SEQ,	    /* sequence gap or reordering */
	TB_WHY_FLAGS,	    /* SYN, FIN, RST, URG or CWR: sent verbatim */
	TB_WHY_ECE,	    /* ECE differs from the chain's */
	TB_WHY_TOS,	    /* DSCP or ECN differs */
	TB_WHY_IP_ID,	    /* DF clear and the IPv4 ID is not the next one */
	TB_WHY_SIZE,	    /* payload larger than the chain's segment size */
	TB_WHY_HDR,	    /* another header field differs (ack, window, options, TTL...) */
	TB_WHY_SEG_CAP,	    /* 64 segments */
	TB_WHY_BYTE_CAP,    /* 65535 bytes */
	TB_WHY_EMPTY,	    /* zero-length UDP datagram: sent verbatim */
	TB_WHY_NO_CSUM,	    /* UDP datagram without checksum: sent verbatim */
	TB_WHY_BAD_CSUM,    /* checksum verification failed: sent verbatim */
	TB_WHY_MALFORMED,   /* truncated or inconsistent headers: sent verbatim */
	TB_WHY_UNSUPPORTED, /* IP options, fragment, IPv6 extension header: verbatim */
	TB_WHY_LANE_OFF,    /* the lane is off or the writer lacks its offload */
	TB_WHY_FULL,	    /* the lane was full and was written before flush */
	TB_WHY_COUNT
};

const char *tb_why_name(enum tb_why why);    /* "flush", "psh", "seq", ... */
const char *tb_lane_name(enum tb_lane lane); /* "tcp", "udp", "pass" */

struct tb_stats {
	uint64_t pkts_in;		    /* committed packets; with TB_COALESCE_ORDER
					       counted when the lanes take them: at
					       flush, or when max_pkts are held */
	uint64_t bytes_in;		    /* committed bytes, counted with pkts_in */
	uint64_t lane_pkts[TB_STATS_LANES]; /* packets per lane (enum tb_lane) */
	uint64_t writes;		    /* writer calls that succeeded */
	uint64_t bytes_out;		    /* bytes those writes carried */
	uint64_t superpackets;		    /* of those, superpackets */
	uint64_t segments;		    /* packets carried inside superpackets */
	uint64_t pure_acks;		    /* pure TCP ACKs, sent verbatim */
	uint64_t write_errors;		    /* writer calls that failed */
	uint64_t fallbacks;		    /* superpackets rewritten as their originals */
	uint64_t displaced;		    /* TB_COALESCE_ORDER: committed below an earlier key */
	uint64_t why[TB_STATS_WHYS]; /* chains sealed and packets not merged, by enum tb_why */
	uint64_t reserved[8];
};

enum {
	TB_COALESCE_NO_TCP = 1u << 0,	   /* TCP goes to passthrough */
	TB_COALESCE_NO_UDP = 1u << 1,	   /* UDP goes to passthrough */
	TB_COALESCE_VERIFY_CSUM = 1u << 2, /* verify checksums before merging */
	TB_COALESCE_ORDER = 1u << 3,	   /* the lanes see each burst in key order */
};

/* Packets a lane holds before it is written early, unless max_pkts says. */
#define TB_COALESCE_MAX_PKTS 1024

struct tb_coalescer_opts {
	unsigned flags;	      /* TB_COALESCE_* */
	unsigned max_pkts;    /* packets a lane holds before it is written early,
				 and with TB_COALESCE_ORDER packets held for sorting
				 before the lanes see them; 0 means
				 TB_COALESCE_MAX_PKTS */
	uint32_t reserved[8]; /* zero */
};

struct tb_coalescer;

/*
 * writer and arena must outlive the coalescer. opts may be NULL (both lanes
 * on). A lane whose offload the writer lacks is off. NULL with errno set:
 * ENOMEM, or EINVAL for bad arguments (a NULL writer, write callback or
 * arena, a flag bit that is not a TB_COALESCE_* value, max_pkts above
 * 1 << 24, a reserved member of opts or of the writer not zero).
 */
struct tb_coalescer *tb_coalescer_create(struct tb_writer *w, struct tb_arena *a,
					 const struct tb_coalescer_opts *opts);
void tb_coalescer_destroy(struct tb_coalescer *c);

/* A buffer from the shared arena to decrypt one packet into: NULL with
 * errno ENOMEM as tb_arena_reserve. */
void *tb_coalescer_reserve(struct tb_coalescer *c, size_t size);

/*
 * Hands one IP packet to the coalescer. The memory must stay valid and
 * unchanged until the next flush (buffers from reserve do); it is never
 * modified. Returns 0, or -EINVAL (nothing taken) for a NULL coalescer, a
 * NULL packet, a len above UINT32_MAX, or a coalescer made with
 * TB_COALESCE_ORDER, which takes packets only with their key.
 */
int tb_coalescer_commit(struct tb_coalescer *c, const void *pkt, size_t len);

/*
 * Order: a tunnel's datagrams can arrive out of the order their sender
 * numbered them in (several paths, several decrypting threads), and every
 * TCP segment that arrives out of order ends its chain. With
 * TB_COALESCE_ORDER each packet comes with its sender's key, (epoch,
 * counter) compared as a pair: the epoch orders the sender's sessions, the
 * counter its datagrams within one. The coalescer holds the packets of a
 * burst and, at flush (or when max_pkts are held), hands them to the lanes
 * sorted by key; equal keys keep their arrival order. An in-order burst is
 * not sorted at all, and a burst with a few displaced packets costs little
 * more. Without TB_COALESCE_ORDER the key is ignored and this is
 * tb_coalescer_commit. Returns 0, or -EINVAL (nothing taken) for a NULL
 * coalescer, a NULL packet or a len above UINT32_MAX.
 * tb_coalescer_commit on an ordering coalescer returns -EINVAL: a packet
 * without a key has no place in the order.
 */
int tb_coalescer_commit_key(struct tb_coalescer *c, const void *pkt, size_t len, uint64_t epoch,
			    uint64_t counter);

/*
 * Writes everything: the TCP lane, then UDP, then passthrough. Every lane is
 * drained even when one fails; the first error is returned. Resets the
 * arena. Afterwards the coalescer holds no pointer into caller memory.
 */
int tb_coalescer_flush(struct tb_coalescer *c);

/* Lanes in use: bit (1 << TB_LANE_*). */
unsigned tb_coalescer_lanes(const struct tb_coalescer *c);

void tb_coalescer_stats(const struct tb_coalescer *c, struct tb_stats *out);
void tb_coalescer_reset_stats(struct tb_coalescer *c);

/* ------------------------------------------------------------------------ */
/* Segmentation: TUN to carrier                                             */
/* ------------------------------------------------------------------------ */

/*
 * Why a virtio header read from TUN was refused. tb_vnet_validate checks the
 * header's own fields, then the IP header, then the TCP/UDP header, and
 * reports the first failure.
 */
enum tb_vnet_err {
	TB_VNET_OK = 0,
	TB_VNET_E_FLAGS,       /* a flag bit other than NEEDS_CSUM / DATA_VALID */
	TB_VNET_E_GSO_TYPE,    /* gso_type not NONE, TCPV4, TCPV6 or UDP_L4 (UFO too) */
	TB_VNET_E_ECN,	       /* the ECN bit without TCPV4/TCPV6 */
	TB_VNET_E_GSO_SIZE,    /* a GSO type with gso_size 0 */
	TB_VNET_E_CSUM_START,  /* NEEDS_CSUM: csum_start at or past the end */
	TB_VNET_E_CSUM_OFFSET, /* NEEDS_CSUM: the checksum field ends past the packet */
	TB_VNET_E_IP_TRUNC,    /* the IP header is cut short */
	TB_VNET_E_IP_VERSION,  /* neither IPv4 nor IPv6 */
	TB_VNET_E_IP_IHL,      /* IPv4 IHL below 5 */
	TB_VNET_E_IP_LEN,      /* IP length field disagrees with the packet's length */
	TB_VNET_E_IP_FRAG,     /* GSO or NEEDS_CSUM on an IPv4 fragment */
	TB_VNET_E_GSO_IP,      /* TCPV4 on IPv6 or TCPV6 on IPv4 */
	TB_VNET_E_GSO_PROTO,   /* the L4 protocol (IPv4 protocol, IPv6 next header) is
				  not TCP for TCPV4/6 or UDP for UDP_L4 */
	TB_VNET_E_L4_TRUNC,    /* the TCP or UDP header is cut short */
	TB_VNET_E_TCP_DOFF,    /* TCP data offset below 5 */
	TB_VNET_E_UDP_LEN,     /* UDP length disagrees with the IP length */
	TB_VNET_E_GSO_EMPTY,   /* a GSO type with no payload */
	TB_VNET_E_CSUM_L4,     /* NEEDS_CSUM inside the IP header, or on TCP/UDP not
				  pointing at the TCP/UDP checksum field */
	TB_VNET_E_COUNT
};

/* Room in struct tb_tun_reader_stats for later reasons. */
#define TB_STATS_VNET_ERRS 32

/* "ok", "flags", "gso_type", ... ; "unknown" for a value out of range. */
const char *tb_vnet_err_name(enum tb_vnet_err err);

/*
 * Checks a virtio header read from TUN against the IP packet that followed
 * it (len bytes, without the virtio header) and, when it holds, rewrites
 * vh->hdr_len from the real IP + TCP/UDP headers: the kernel's value is not
 * trusted. A plain packet (GSO_NONE, no NEEDS_CSUM) is only checked for its
 * flag bits and for the ECN bit, which needs TCPV4 or TCPV6
 * (TB_VNET_E_ECN), and gets hdr_len 0 unless it parses as a complete TCP or
 * UDP packet.
 * vh is left unchanged when the header is refused. Reads nothing outside
 * pkt[0..len) whatever the input; pkt may be NULL only when len is 0.
 */
enum tb_vnet_err tb_vnet_validate(struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len);

/*
 * Receives one output packet: the iovecs concatenated are one IP packet.
 * A segment of a superpacket comes as iov[0] = its patched headers (in a
 * scratch buffer valid only during the call) and iov[1] = its payload,
 * pointing into the superpacket. A plain packet comes as iov[0] = the packet
 * itself; a finished NEEDS_CSUM packet in one to three pieces (one when its
 * checksum field ends the packet within its first 128 bytes). Returns 0 to
 * go on; anything else stops the segmentation.
 */
typedef int (*tb_segment_fn)(void *user, const struct iovec *iov, unsigned iovcnt);

/*
 * Cuts a packet read from TUN into the packets it stands for, with correct
 * headers and complete checksums, calling fn once for each in order:
 * - TSO/USO superpacket: segments of gso_size payload (the last may be
 *   shorter). Per segment: IPv4 total length, ID = first ID + i and header
 *   checksum; IPv6 payload length; TCP sequence number + i * gso_size, FIN
 *   and PSH kept on the last segment only, CWR on the first only; UDP
 *   length; the TCP or UDP checksum computed over the segment (a UDP
 *   checksum that computes to 0 is sent as 0xFFFF).
 * - GSO_NONE with NEEDS_CSUM: the packet with its checksum finished.
 * - GSO_NONE without NEEDS_CSUM: the packet as it is.
 * The header is checked with tb_vnet_validate (on a copy); pkt is never
 * modified. No allocation. Returns the number of packets delivered, -EINVAL
 * for bad arguments or a refused header (nothing delivered), or fn's value
 * when it returns non-zero (a positive value becomes -ECANCELED); packets
 * before the failing one were delivered.
 */
int tb_segment(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len, tb_segment_fn fn,
	       void *user);

/*
 * tb_segment into one caller buffer: the packets back to back from out, the
 * length of packet i in seg_lens[i] (seg_lens may be NULL). Returns the
 * number of packets, -EINVAL as tb_segment, or -ENOBUFS (nothing written)
 * when they need more than out_size bytes or more than max_segs packets.
 * The bytes needed for a superpacket with H header bytes and P payload bytes
 * cut into n segments are n * H + P. out must not overlap pkt.
 */
int tb_segment_into(const struct tb_vnet_hdr *vh, const uint8_t *pkt, size_t len, uint8_t *out,
		    size_t out_size, size_t *seg_lens, unsigned max_segs);

/*
 * Finishes a NEEDS_CSUM checksum in place: the ones'-complement sum of
 * pkt[csum_start..len), whose checksum field holds the pseudo-header sum as
 * the kernel left it, inverted and stored at csum_start + csum_offset. A
 * UDP checksum that computes to 0 is stored as 0xFFFF. Does nothing without
 * NEEDS_CSUM. Returns 0, or -EINVAL when the field is not inside the packet.
 */
int tb_csum_finish(const struct tb_vnet_hdr *vh, uint8_t *pkt, size_t len);

/* ------------------------------------------------------------------------ */
/* The TUN device (Linux only)                                              */
/* ------------------------------------------------------------------------ */

/*
 * A TUN device opened with IFF_TUN | IFF_NO_PI | IFF_VNET_HDR (one fd per
 * queue, non-blocking). Offloads are negotiated with TUNSETOFFLOAD: USO is
 * dropped when the kernel refuses it (before Linux 6.2), and when
 * IFF_VNET_HDR itself is refused the device carries plain packets with
 * every offload off. One eventfd per device wakes every blocked reader and
 * writer for shutdown.
 */

/* Offloads (TUNSETOFFLOAD) a caller may ask for. */
enum {
	TB_TUN_CSUM = 1u << 0, /* packets may carry a partial checksum */
	TB_TUN_TSO4 = 1u << 1,
	TB_TUN_TSO6 = 1u << 2,
	TB_TUN_USO4 = 1u << 3,	  /* Linux 6.2+ */
	TB_TUN_USO6 = 1u << 4,	  /* Linux 6.2+ */
	TB_TUN_TSO_ECN = 1u << 5, /* TSO with CWR: not in TB_TUN_ALL */
	TB_TUN_ALL = 0x1f,	  /* CSUM | TSO4 | TSO6 | USO4 | USO6 */
};

#define TB_TUN_MAX_QUEUES 256

struct tb_tun_opts {
	const char *name;     /* interface name; NULL or "" lets the kernel pick tun%d */
	unsigned queues;      /* 0 or 1: one fd; more: IFF_MULTI_QUEUE */
	unsigned offloads;    /* TB_TUN_* wanted; 0 means TB_TUN_ALL */
	int no_vnet_hdr;      /* plain packets, no virtio header, every offload off */
	uint32_t reserved[8]; /* zero */
};

struct tb_tun;

/*
 * Creates the interface, or attaches to an existing one of that name, in
 * the caller's network namespace. opts may be NULL. NULL on failure with
 * errno set: EINVAL for bad options or a name the kernel refuses (another
 * kind of device, or a TUN device whose multi-queue flag differs), EBUSY
 * for a single-queue TUN device of that name already open elsewhere, EPERM
 * without CAP_NET_ADMIN, ENOENT without /dev/net/tun, EMFILE when no fd is
 * left for a queue or the wake eventfd... The interface is left down.
 */
struct tb_tun *tb_tun_open(const struct tb_tun_opts *opts);

/*
 * Wraps an fd the caller already has: a TUN fd (its flags are read with
 * TUNGETIFF and offloads negotiated as tb_tun_open does) or any other
 * message-preserving fd (socketpair, for tests), taken to carry virtio
 * headers unless opts->no_vnet_hdr, with opts->offloads (0: all) as if
 * negotiated. The fd is made non-blocking and is not closed by
 * tb_tun_close. One queue. NULL with errno set: EBADF for a negative fd,
 * EBADFD for a /dev/net/tun fd never bound with TUNSETIFF (it carries
 * nothing), EINVAL for a reserved member not zero, or the system's own
 * code (EMFILE when no fd is left for the wake eventfd, ...).
 */
struct tb_tun *tb_tun_attach(int fd, const struct tb_tun_opts *opts);

/* Closes the queues' fds (unless attached) and frees every writer. */
void tb_tun_close(struct tb_tun *t);

int tb_tun_fd(const struct tb_tun *t, unsigned queue); /* -EINVAL when out of range */
unsigned tb_tun_queues(const struct tb_tun *t);
const char *tb_tun_name(const struct tb_tun *t);  /* "" for a non-TUN fd */
int tb_tun_vnet(const struct tb_tun *t);	  /* 1 when packets carry a virtio header */
unsigned tb_tun_offloads(const struct tb_tun *t); /* TB_TUN_* negotiated */
/* TB_CAP_TSO when TSO4 and TSO6 were negotiated, TB_CAP_USO when USO4 and USO6 were. */
unsigned tb_tun_caps(const struct tb_tun *t);

/*
 * Wakes every reader and writer blocked on this device, now and later:
 * they return -ESHUTDOWN. Every tb_tun_read from then on returns it, even
 * with packets queued; a writer returns it only when it must wait for room
 * in the queue (a write that needs no wait is still made). For shutdown;
 * safe from any thread or a signal handler.
 */
void tb_tun_wake(struct tb_tun *t);

/*
 * The writer of one queue, owned by t, with caps = tb_tun_caps(t). It
 * sends [virtio header, headers, payload...] with one writev. A plain
 * packet carries an all-zero virtio header on a device with virtio headers
 * (tb_tun_vnet), and goes bare on one without. A full queue (EAGAIN) is
 * waited out with poll (-ESHUTDOWN instead once the device is woken) and
 * an interrupted call is retried; a write the kernel rejects returns its
 * -errno, so the coalescer writes the originals instead. NULL with errno
 * EINVAL when queue is out of range.
 */
struct tb_writer *tb_tun_writer(struct tb_tun *t, unsigned queue);

/*
 * Reader of one queue: one blocking wait (poll on the queue and the wake
 * eventfd), then reads without blocking until the queue is empty, the packet
 * cap is reached or the buffer has no room for a 64 KiB superpacket. Each
 * virtio header is checked with tb_vnet_validate; a refused one is dropped
 * and counted by reason, and reading goes on.
 */
struct tb_tun_pkt {
	struct tb_vnet_hdr vnet; /* validated, hdr_len recomputed; zero for plain packets */
	uint8_t *data;		 /* the IP packet, in the reader's buffer */
	size_t len;
};

struct tb_tun_reader_opts {
	size_t buf_size;      /* packet buffer bytes; 0: 1 MiB; a value below
				 64 KiB + 64 is raised to it, not refused */
	unsigned max_pkts;    /* packets per tb_tun_read; 0: 64 */
	uint32_t reserved[8]; /* zero */
};

struct tb_tun_reader_stats {
	uint64_t polls;			  /* blocking waits */
	uint64_t reads;			  /* packets read, good or not */
	uint64_t pkts;			  /* packets delivered */
	uint64_t bytes;			  /* bytes delivered, virtio headers not counted */
	uint64_t superpackets;		  /* delivered with a GSO type */
	uint64_t segments;		  /* packets those superpackets stand for */
	uint64_t csum_partial;		  /* delivered with NEEDS_CSUM */
	uint64_t dropped;		  /* refused: bad[] + short_reads + oversize */
	uint64_t bad[TB_STATS_VNET_ERRS]; /* refused virtio headers, by enum tb_vnet_err */
	uint64_t short_reads;		  /* shorter than a virtio header */
	uint64_t oversize;		  /* filled all the room offered: maybe cut */
	uint64_t errors;		  /* read errors other than EAGAIN and EINTR */
	uint64_t reserved[8];
};

struct tb_tun_reader;

/* opts may be NULL. NULL with errno ENOMEM, or EINVAL when queue is out of range. */
struct tb_tun_reader *tb_tun_reader_create(struct tb_tun *t, unsigned queue,
					   const struct tb_tun_reader_opts *opts);
void tb_tun_reader_destroy(struct tb_tun_reader *r);

/*
 * Waits up to timeout_ms (-1: no limit, 0: not at all; a signal neither ends
 * nor restarts the wait) for packets, then drains. *pkts points to the
 * packets, valid until the next call. Returns how many (0 on timeout or when
 * every packet read was refused), -ESHUTDOWN once the device is woken, -EPIPE
 * at the end of a non-TUN fd, or another negative errno.
 */
int tb_tun_read(struct tb_tun_reader *r, int timeout_ms, const struct tb_tun_pkt **pkts);

void tb_tun_reader_stats(const struct tb_tun_reader *r, struct tb_tun_reader_stats *out);

/* ------------------------------------------------------------------------ */
/* The carrier: batched UDP between tunnel peers (Linux only)               */
/* ------------------------------------------------------------------------ */

/*
 * A non-blocking UDP socket, IPv4 or IPv6, that receives with recvmmsg and
 * UDP_GRO (Linux 5.0+) and sends with sendmmsg and UDP_SEGMENT (Linux
 * 4.18+). Both offloads are asked for, never assumed: a kernel that refuses
 * one leaves it off. UDP_GRO is asked for only with slots of 64 KiB or more,
 * since a GRO buffer holds up to 64 KiB. One eventfd wakes a blocked receive
 * or send for shutdown. Every buffer is made at open: receiving and sending
 * allocate nothing and copy no payload. Not thread-safe, but for
 * tb_carrier_wake: one carrier per thread (TB_CARRIER_REUSEPORT for more).
 */

/* tb_carrier_opts.flags */
enum {
	TB_CARRIER_NO_GSO = 1u << 0,	/* send every datagram on its own */
	TB_CARRIER_NO_GRO = 1u << 1,	/* do not ask for UDP_GRO */
	TB_CARRIER_REUSEPORT = 1u << 2, /* SO_REUSEPORT: one socket per TUN queue */
};

/* tb_carrier_offloads() */
enum {
	TB_CARRIER_GSO = 1u << 0, /* UDP_SEGMENT in use */
	TB_CARRIER_GRO = 1u << 1, /* UDP_GRO in use */
};

struct tb_carrier_opts {
	const struct sockaddr *bind; /* local address and port (port 0: any); required */
	socklen_t bind_len;
	unsigned flags;	      /* TB_CARRIER_* */
	int rcvbuf;	      /* SO_RCVBUF(FORCE) bytes; 0 leaves the system's */
	int sndbuf;	      /* SO_SNDBUF(FORCE) bytes; 0 leaves the system's */
	unsigned recv_slots;  /* receive slots (one datagram or one GRO buffer each); 0: 64 */
	size_t slot_size;     /* bytes per receive slot; 0: 65536 */
	unsigned send_max;    /* datagrams held for one flush; 0: 1024 */
	size_t send_size;     /* bytes of send buffers held for one flush; 0: 4 MiB; min 64 KiB */
	uint32_t reserved[8]; /* zero */
};

struct tb_carrier;

/*
 * Opens and binds the socket. NULL on failure with errno set: EINVAL for
 * bad options (no bind address, an address family other than
 * AF_INET/AF_INET6, a bind_len too short for it, unknown flags, negative
 * buffer sizes, more than 1024 recv_slots, slots over 1 MiB, send_max over
 * 2^20, send_size over 1 GiB, a reserved member not zero), EADDRINUSE,
 * ENOMEM, ...
 */
struct tb_carrier *tb_carrier_open(const struct tb_carrier_opts *opts);
void tb_carrier_close(struct tb_carrier *c);

int tb_carrier_fd(const struct tb_carrier *c);
/* The bound address (with the port the kernel chose). 0 or a negative errno. */
int tb_carrier_local(const struct tb_carrier *c, struct sockaddr_storage *addr, socklen_t *len);
unsigned tb_carrier_offloads(const struct tb_carrier *c); /* TB_CARRIER_GSO | TB_CARRIER_GRO */

/*
 * Wakes every receive and send blocked on this carrier, now and later:
 * they return -ESHUTDOWN. A receive that still has views from an earlier
 * recvmmsg returns them first, even after the wake. Reserve, commit and
 * flush return -ESHUTDOWN only when they must wait for room in the socket
 * buffer (what is held is then discarded); a send that needs no wait is
 * still made. Safe from any thread or a signal handler.
 */
void tb_carrier_wake(struct tb_carrier *c);

/* One received datagram: a view into the carrier's receive slots. */
struct tb_dgram {
	uint8_t *data;
	size_t len;
	const struct sockaddr *from; /* the sender's address */
	socklen_t from_len;
};

/*
 * Waits up to timeout_ms (-1: no limit, 0: not at all; a signal neither ends
 * nor restarts the wait) for datagrams, then takes what is queued with one
 * recvmmsg. A slot that UDP_GRO filled with many datagrams of one sender is
 * split into one view per datagram, without copying. A datagram larger than
 * its slot (MSG_TRUNC) is counted and dropped, never delivered cut. *dgrams
 * points to the views in arrival order. One call hands out at most
 * 64 x recv_slots views in all (the size of the view array), however they
 * are spread over the slots: when one recvmmsg brought more, the next call
 * returns the rest without waiting or calling the kernel. Returns how many:
 * 0 on timeout, and also when the wait ended but recvmmsg found nothing or
 * every slot it filled was dropped (too large, or a bad GRO message);
 * -ESHUTDOWN once woken and the views of an earlier recvmmsg are all handed
 * out; or another negative errno.
 *
 * The contract that makes a receive path copy-free: the views and the bytes
 * they point to stay valid, and the carrier leaves them unchanged, until the
 * next tb_carrier_recv on this carrier. The caller may decrypt each datagram
 * in place and commit the plaintext straight to a coalescer, as long as it
 * flushes the coalescer before it receives again. No arena buffer is needed
 * on this path.
 */
int tb_carrier_recv(struct tb_carrier *c, int timeout_ms, struct tb_dgram **dgrams);

/*
 * Send: reserve a buffer, write (encrypt) the datagram into it, commit it
 * with its destination, and flush after the burst. size is at most 65507.
 * A buffer is valid until the next reserve or flush; commit it before
 * reserving another. When the carrier holds send_max datagrams or
 * send_size bytes, reserve sends what is held first (a datagram dropped
 * then is reported by the next flush). Buffers are 16-byte aligned. NULL
 * with errno set: EINVAL for a size over 65507; ESHUTDOWN when, once woken,
 * that send had to wait for room in the socket buffer (what was held is
 * discarded).
 */
void *tb_carrier_reserve(struct tb_carrier *c, size_t size);

/*
 * Queues len bytes at buf (the buffer reserve returned, or any memory valid
 * until the next flush) for to. Returns 0 or -EINVAL (len over 65507, more
 * than the reserved size, a bad address: NULL, a family the socket can't
 * reach, a short to_len, port 0). An AF_INET destination of an IPv6
 * carrier is sent to as ::ffff:a.b.c.d. When send_max datagrams are held,
 * commit sends them first, so it may also return -ESHUTDOWN, when, once
 * woken, that send had to wait for room in the socket buffer.
 */
int tb_carrier_commit(struct tb_carrier *c, const void *buf, size_t len, const struct sockaddr *to,
		      socklen_t to_len);

/*
 * Sends everything committed, in commit order. Runs of datagrams to the
 * same destination and of the same size (the last of a run may be shorter)
 * leave as one UDP_SEGMENT message (at most 64 segments, 128 where the
 * kernel takes them, and 65507 bytes), up to 1024 messages per sendmmsg; a
 * partial send resumes where it stopped. A full socket buffer (EAGAIN) is
 * waited out with poll. When the kernel refuses segmentation (EIO: a route
 * through a device without checksum offload) UDP_SEGMENT is turned off for
 * this carrier and the refused datagrams are sent on their own: none is
 * lost. A datagram the kernel refuses for another reason is counted under
 * its errno and dropped. Returns 0, -ESHUTDOWN when, once woken, it had to
 * wait for room (the rest is discarded), or the first negative errno a
 * datagram was dropped for.
 */
int tb_carrier_flush(struct tb_carrier *c);

#define TB_CARRIER_ERRNOS 8

struct tb_carrier_stats {
	uint64_t polls;		/* blocking waits, both ways */
	uint64_t recv_calls;	/* recvmmsg calls */
	uint64_t rx_dgrams;	/* datagrams delivered */
	uint64_t rx_bytes;	/* bytes delivered */
	uint64_t gro_bufs;	/* slots that held more than one datagram */
	uint64_t gro_dgrams;	/* datagrams in those slots */
	uint64_t truncated;	/* datagrams larger than their slot: dropped */
	uint64_t send_calls;	/* sendmmsg calls */
	uint64_t tx_dgrams;	/* datagrams the kernel took */
	uint64_t tx_bytes;	/* bytes the kernel took */
	uint64_t gso_msgs;	/* UDP_SEGMENT messages the kernel took */
	uint64_t gso_segs;	/* datagrams in those messages */
	uint64_t gso_fallbacks; /* UDP_SEGMENT refused (EIO) and turned off */
	uint64_t tx_dropped;	/* datagrams refused by the kernel, or discarded when woken */
	uint64_t errors;	/* failed calls other than EAGAIN and EINTR, and received
				   slots whose GRO control message was unusable (EBADMSG) */
	struct {
		int err;	       /* a positive errno; 0 for an unused entry */
		uint64_t count;	       /* failed calls with it */
	} by_errno[TB_CARRIER_ERRNOS]; /* the first errnos seen; the rest only in errors */
	uint64_t reserved[8];
};

void tb_carrier_stats(const struct tb_carrier *c, struct tb_carrier_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* TUNBATCH_H */
