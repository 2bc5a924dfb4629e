/* SPDX-License-Identifier: MIT */
/*
 * The carrier: a UDP socket between tunnel peers that receives with
 * recvmmsg and UDP_GRO and sends with sendmmsg and UDP_SEGMENT. Every
 * buffer is made at open; receiving and sending allocate nothing and copy
 * no payload.
 */
#define _GNU_SOURCE /* recvmmsg, sendmmsg */
#include "carrier.h"

#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#define SLOTS_DEF      64
#define SLOTS_MAX      1024 /* recvmmsg takes at most UIO_MAXIOV messages */
#define SLOT_DEF       65536
#define SLOT_MAX       ((size_t)1 << 20)
#define GRO_SLOT       65536 /* a GRO buffer holds up to 64 KiB: a smaller slot would cut it */
#define VIEWS_PER_SLOT 64    /* views per call; what does not fit waits for the next call */
#define CTRL_ROOM      128   /* the UDP_GRO message, and room for others the caller turns on */
#define SEND_MAX_DEF   1024
#define SEND_MAX_MAX   (1u << 20)
#define SEND_SIZE_DEF  ((size_t)4 << 20)
#define SEND_SIZE_MIN  ((size_t)65536) /* the largest datagram fits an empty slab */
#define SEND_SIZE_MAX  ((size_t)1 << 30)
#define MMSG_MAX       1024 /* sendmmsg takes at most UIO_MAXIOV messages */
#define SEGS_OLD       64   /* UDP_MAX_SEGMENTS before Linux 6.9 */
#define SEGS_NEW       128  /* since Linux 6.9 */
#define SLAB_ALIGN     16

#define FLAGS_KNOWN (TB_CARRIER_NO_GSO | TB_CARRIER_NO_GRO | TB_CARRIER_REUSEPORT)

/* A destination, normalized so that two equal ones compare equal bytewise. */
struct dst {
	union {
		struct sockaddr sa;
		struct sockaddr_in in;
		struct sockaddr_in6 in6;
	} u;
	socklen_t len;
};

union seg_ctrl {
	uint8_t buf[CMSG_SPACE(sizeof(uint16_t))];
	struct cmsghdr align;
};

struct tb_carrier {
	int fd;
	int wake_fd;
	int family;
	unsigned offloads;
	unsigned max_segs;
	int segs_probe; /* a run was cut to 64 segments after EINVAL: its send decides */
	int segs_known; /* max_segs is settled */

	/* Receive: slot k is slots + k * slot_size, with its address and control room. */
	unsigned nslots;
	size_t slot_size;
	uint8_t *slots;
	struct mmsghdr *rmsg;
	struct iovec *riov;
	struct sockaddr_storage *rfrom;
	uint8_t *rctrl;
	struct tb_dgram *views;
	unsigned nviews;
	unsigned got;		 /* slots the last recvmmsg filled */
	unsigned next;		 /* the first of them not fully delivered */
	size_t first;		 /* its first view not delivered */
	struct tbi_gro_slot cur; /* slot next, once read */

	/* Send: datagram i is siov[i] for dsts[sdst[i]]. */
	uint8_t *slab;
	size_t slab_size;
	size_t slab_used;
	size_t resv_off;
	size_t resv_size;
	int resv; /* a buffer is reserved and not committed */
	unsigned send_max;
	unsigned n;
	unsigned ndst;
	struct iovec *siov;
	unsigned *sdst;
	struct dst *dsts;
	unsigned nmsg; /* messages per sendmmsg */
	struct mmsghdr *smsg;
	unsigned *mfirst; /* the first datagram of each message */
	union seg_ctrl *sctrl;
	int pending_err; /* the first drop error of a send made by reserve or commit */

	struct tb_carrier_stats st;
};

static void count_err(struct tb_carrier *c, int e)
{
	c->st.errors++;
	for (unsigned i = 0; i < TB_CARRIER_ERRNOS; i++) {
		if (c->st.by_errno[i].err == e || !c->st.by_errno[i].err) {
			c->st.by_errno[i].err = e;
			c->st.by_errno[i].count++;
			return;
		}
	}
}

/* Root may go past the system's limits (the FORCE variants); others get
 * what the limits allow. */
static int set_buf(int fd, int force, int plain, int bytes)
{
	if (!bytes || setsockopt(fd, SOL_SOCKET, force, &bytes, sizeof(bytes)) == 0)
		return 0;
	if (setsockopt(fd, SOL_SOCKET, plain, &bytes, sizeof(bytes)) == 0)
		return 0;
	return -errno;
}

static int check_opts(const struct tb_carrier_opts *o)
{
	if (!o || !o->bind || o->bind_len < sizeof(sa_family_t) ||
	    (o->flags & ~(unsigned)FLAGS_KNOWN) || o->rcvbuf < 0 || o->sndbuf < 0 ||
	    o->recv_slots > SLOTS_MAX || o->slot_size > SLOT_MAX || o->send_max > SEND_MAX_MAX ||
	    o->send_size > SEND_SIZE_MAX || !tbi_reserved_zero(o->reserved, sizeof(o->reserved)))
		return -EINVAL;
	if (o->bind->sa_family == AF_INET && o->bind_len >= sizeof(struct sockaddr_in))
		return 0;
	if (o->bind->sa_family == AF_INET6 && o->bind_len >= sizeof(struct sockaddr_in6))
		return 0;
	return -EINVAL;
}

static int alloc_all(struct tb_carrier *c)
{
	c->slots = malloc((size_t)c->nslots * c->slot_size);
	c->rmsg = calloc(c->nslots, sizeof(*c->rmsg));
	c->riov = calloc(c->nslots, sizeof(*c->riov));
	c->rfrom = calloc(c->nslots, sizeof(*c->rfrom));
	c->rctrl = calloc(c->nslots, CTRL_ROOM);
	c->views = calloc(c->nviews, sizeof(*c->views));
	c->slab = malloc(c->slab_size);
	c->siov = calloc(c->send_max, sizeof(*c->siov));
	c->sdst = calloc(c->send_max, sizeof(*c->sdst));
	c->dsts = calloc(c->send_max, sizeof(*c->dsts));
	c->smsg = calloc(c->nmsg, sizeof(*c->smsg));
	c->mfirst = calloc(c->nmsg, sizeof(*c->mfirst));
	c->sctrl = calloc(c->nmsg, sizeof(*c->sctrl));
	if (!c->slots || !c->rmsg || !c->riov || !c->rfrom || !c->rctrl || !c->views || !c->slab ||
	    !c->siov || !c->sdst || !c->dsts || !c->smsg || !c->mfirst || !c->sctrl)
		return -ENOMEM;
	return 0;
}

/* Puts slot k's header back as recvmmsg expects it. */
static void reset_slot(struct tb_carrier *c, unsigned k)
{
	struct msghdr *m = &c->rmsg[k].msg_hdr;

	m->msg_name = &c->rfrom[k];
	m->msg_namelen = sizeof(c->rfrom[k]);
	m->msg_iov = &c->riov[k];
	m->msg_iovlen = 1;
	m->msg_control = c->rctrl + (size_t)k * CTRL_ROOM;
	m->msg_controllen = CTRL_ROOM;
	m->msg_flags = 0;
}

static int open_socket(struct tb_carrier *c, const struct tb_carrier_opts *o)
{
	int one = 1, zero = 0;

	c->fd = socket(c->family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_UDP);
	if (c->fd < 0)
		return -errno;
	if ((o->flags & TB_CARRIER_REUSEPORT) &&
	    setsockopt(c->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0)
		return -errno;
	int e = set_buf(c->fd, SO_RCVBUFFORCE, SO_RCVBUF, o->rcvbuf);
	if (!e)
		e = set_buf(c->fd, SO_SNDBUFFORCE, SO_SNDBUF, o->sndbuf);
	if (e)
		return e;
	if (bind(c->fd, o->bind, o->bind_len) < 0)
		return -errno;
	/* Asked for, never assumed: a kernel without them says ENOPROTOOPT.
	 * Setting the socket's default segment size to 0 changes nothing. */
	if (!(o->flags & TB_CARRIER_NO_GSO) &&
	    setsockopt(c->fd, SOL_UDP, UDP_SEGMENT, &zero, sizeof(zero)) == 0)
		c->offloads |= TB_CARRIER_GSO;
	if (!(o->flags & TB_CARRIER_NO_GRO) && c->slot_size >= GRO_SLOT &&
	    setsockopt(c->fd, SOL_UDP, UDP_GRO, &one, sizeof(one)) == 0)
		c->offloads |= TB_CARRIER_GRO;
	return 0;
}

struct tb_carrier *tb_carrier_open(const struct tb_carrier_opts *opts)
{
	struct tb_carrier *c;
	int e = check_opts(opts);

	if (e) {
		errno = -e;
		return NULL;
	}
	c = calloc(1, sizeof(*c));
	if (!c) {
		errno = ENOMEM;
		return NULL;
	}
	c->fd = -1;
	c->wake_fd = -1;
	c->family = opts->bind->sa_family;
	c->nslots = opts->recv_slots ? opts->recv_slots : SLOTS_DEF;
	c->slot_size = opts->slot_size ? opts->slot_size : SLOT_DEF;
	c->nviews = c->nslots * VIEWS_PER_SLOT;
	c->send_max = opts->send_max ? opts->send_max : SEND_MAX_DEF;
	c->slab_size = opts->send_size ? opts->send_size : SEND_SIZE_DEF;
	if (c->slab_size < SEND_SIZE_MIN)
		c->slab_size = SEND_SIZE_MIN;
	c->nmsg = c->send_max < MMSG_MAX ? c->send_max : MMSG_MAX;
	c->max_segs = SEGS_NEW;
	e = alloc_all(c);
	if (!e) {
		c->wake_fd = tbi_wake_open();
		e = c->wake_fd < 0 ? c->wake_fd : 0;
	}
	if (!e)
		e = open_socket(c, opts);
	if (e) {
		tb_carrier_close(c);
		errno = -e;
		return NULL;
	}
	for (unsigned k = 0; k < c->nslots; k++) {
		c->riov[k] = (struct iovec){c->slots + (size_t)k * c->slot_size, c->slot_size};
		reset_slot(c, k);
	}
	return c;
}

void tb_carrier_close(struct tb_carrier *c)
{
	if (!c)
		return;
	if (c->fd >= 0)
		close(c->fd);
	if (c->wake_fd >= 0)
		close(c->wake_fd);
	free(c->slots);
	free(c->rmsg);
	free(c->riov);
	free(c->rfrom);
	free(c->rctrl);
	free(c->views);
	free(c->slab);
	free(c->siov);
	free(c->sdst);
	free(c->dsts);
	free(c->smsg);
	free(c->mfirst);
	free(c->sctrl);
	free(c);
}

int tb_carrier_fd(const struct tb_carrier *c)
{
	return c->fd;
}

int tb_carrier_local(const struct tb_carrier *c, struct sockaddr_storage *addr, socklen_t *len)
{
	socklen_t l = sizeof(*addr);

	if (!addr)
		return -EINVAL;
	if (getsockname(c->fd, (struct sockaddr *)addr, &l) < 0)
		return -errno;
	if (len)
		*len = l;
	return 0;
}

unsigned tb_carrier_offloads(const struct tb_carrier *c)
{
	return c->offloads;
}

void tb_carrier_wake(struct tb_carrier *c)
{
	tbi_wake(c->wake_fd);
}

void tb_carrier_stats(const struct tb_carrier *c, struct tb_carrier_stats *out)
{
	*out = c->st;
}

/* ------------------------------------------------------------------------ */
/* Receive                                                                  */
/* ------------------------------------------------------------------------ */

/* Views of the slots the last recvmmsg filled, from where the last call
 * stopped, until they are all out or the views are full. */
static unsigned deliver(struct tb_carrier *c)
{
	unsigned n = 0;

	while (c->next < c->got && n < c->nviews) {
		struct mmsghdr *m = &c->rmsg[c->next];
		unsigned got;

		if (c->first == 0) {
			int e = tbi_gro_split(m->msg_hdr.msg_control, m->msg_hdr.msg_controllen,
					      m->msg_hdr.msg_flags, m->msg_len, c->slot_size,
					      &c->cur);
			if (e == -EMSGSIZE)
				c->st.truncated += c->cur.lost ? c->cur.lost : 1;
			else if (e)
				count_err(c, -e);
			if (c->cur.count > 1) {
				c->st.gro_bufs++;
				c->st.gro_dgrams += c->cur.count;
			}
		}
		got = tbi_gro_views(&c->cur, c->slots + (size_t)c->next * c->slot_size, c->first,
				    (const struct sockaddr *)&c->rfrom[c->next],
				    m->msg_hdr.msg_namelen, c->views + n, c->nviews - n);
		c->first += got;
		for (unsigned i = n; i < n + got; i++)
			c->st.rx_bytes += c->views[i].len;
		n += got;
		if (c->first >= c->cur.count) {
			c->next++;
			c->first = 0;
		}
	}
	c->st.rx_dgrams += n;
	return n;
}

int tb_carrier_recv(struct tb_carrier *c, int timeout_ms, struct tb_dgram **dgrams)
{
	int r;

	if (!c || !dgrams)
		return -EINVAL;
	*dgrams = c->views;
	/* What the last recvmmsg brought and did not fit: no call needed. */
	if (c->next < c->got)
		return (int)deliver(c);
	r = tbi_poll_wake(c->fd, POLLIN, c->wake_fd, timeout_ms);
	if (r < 0 && r != -ESHUTDOWN) {
		count_err(c, -r);
		return r;
	}
	c->st.polls++;
	if (r <= 0)
		return r; /* woken, or out of time */
	if (r & POLLNVAL)
		return -EBADF;
	for (unsigned k = 0; k < c->got; k++)
		reset_slot(c, k);
	c->got = c->next = 0;
	c->first = 0;
	/* MSG_TRUNC: a datagram cut by its slot reports its real length. */
	r = recvmmsg(c->fd, c->rmsg, c->nslots, MSG_DONTWAIT | MSG_TRUNC, NULL);
	c->st.recv_calls++;
	if (r < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return 0;
		count_err(c, errno);
		return -errno;
	}
	c->got = (unsigned)r;
	return (int)deliver(c);
}

/* ------------------------------------------------------------------------ */
/* Send                                                                     */
/* ------------------------------------------------------------------------ */

/* An IPv4 destination of an IPv6 socket is sent to as ::ffff:a.b.c.d. */
static int dst_of(const struct tb_carrier *c, const struct sockaddr *to, socklen_t to_len,
		  struct dst *d)
{
	memset(d, 0, sizeof(*d));
	if (!to || to_len < sizeof(sa_family_t))
		return -EINVAL; /* not even a family to read */
	if (to->sa_family == AF_INET && to_len >= sizeof(struct sockaddr_in)) {
		struct sockaddr_in in;
		memcpy(&in, to, sizeof(in));
		if (!in.sin_port)
			return -EINVAL;
		if (c->family == AF_INET) {
			d->u.in.sin_family = AF_INET;
			d->u.in.sin_port = in.sin_port;
			d->u.in.sin_addr = in.sin_addr;
			d->len = sizeof(d->u.in);
			return 0;
		}
		d->u.in6.sin6_family = AF_INET6;
		d->u.in6.sin6_port = in.sin_port;
		d->u.in6.sin6_addr.s6_addr[10] = 0xff;
		d->u.in6.sin6_addr.s6_addr[11] = 0xff;
		memcpy(&d->u.in6.sin6_addr.s6_addr[12], &in.sin_addr, 4);
		d->len = sizeof(d->u.in6);
		return 0;
	}
	if (to->sa_family == AF_INET6 && to_len >= sizeof(struct sockaddr_in6) &&
	    c->family == AF_INET6) {
		struct sockaddr_in6 in6;
		memcpy(&in6, to, sizeof(in6));
		if (!in6.sin6_port)
			return -EINVAL;
		d->u.in6.sin6_family = AF_INET6;
		d->u.in6.sin6_port = in6.sin6_port;
		d->u.in6.sin6_flowinfo = in6.sin6_flowinfo;
		d->u.in6.sin6_addr = in6.sin6_addr;
		d->u.in6.sin6_scope_id = in6.sin6_scope_id;
		d->len = sizeof(d->u.in6);
		return 0;
	}
	return -EINVAL;
}

/* How many datagrams from i leave as one message: same destination, same
 * size, the last may be shorter (never empty), within the kernel's caps. */
static unsigned run_len(const struct tb_carrier *c, unsigned i, int alone)
{
	size_t seg = c->siov[i].iov_len, bytes = seg;
	unsigned cnt = 1;

	if (alone || !(c->offloads & TB_CARRIER_GSO) || !seg)
		return 1;
	while (i + cnt < c->n && cnt < c->max_segs) {
		size_t l = c->siov[i + cnt].iov_len;
		if (c->sdst[i + cnt] != c->sdst[i] || !l || l > seg || bytes + l > TBI_DGRAM_MAX)
			break;
		bytes += l;
		cnt++;
		if (l < seg)
			break;
	}
	return cnt;
}

/* Messages for datagrams from i on, at most one sendmmsg's worth; datagrams
 * before alone go one per message. Returns how many. */
static unsigned build(struct tb_carrier *c, unsigned i, unsigned alone)
{
	unsigned k = 0;

	while (i < c->n && k < c->nmsg) {
		unsigned cnt = run_len(c, i, i < alone);
		struct msghdr *m = &c->smsg[k].msg_hdr;
		struct dst *d = &c->dsts[c->sdst[i]];

		m->msg_name = &d->u;
		m->msg_namelen = d->len;
		m->msg_iov = &c->siov[i];
		m->msg_iovlen = cnt;
		m->msg_control = NULL;
		m->msg_controllen = 0;
		m->msg_flags = 0;
		if (cnt > 1) {
			struct cmsghdr *cm = &c->sctrl[k].align;
			uint16_t gso = (uint16_t)c->siov[i].iov_len;
			m->msg_control = c->sctrl[k].buf;
			m->msg_controllen = sizeof(c->sctrl[k].buf);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(gso));
			memcpy(CMSG_DATA(cm), &gso, sizeof(gso));
		}
		c->mfirst[k++] = i;
		i += cnt;
	}
	return k;
}

static void account(struct tb_carrier *c, unsigned from, unsigned count)
{
	for (unsigned k = from; k < from + count; k++) {
		size_t cnt = c->smsg[k].msg_hdr.msg_iovlen;
		c->st.tx_dgrams += cnt;
		c->st.tx_bytes += c->smsg[k].msg_len;
		if (cnt < 2)
			continue;
		c->st.gso_msgs++;
		c->st.gso_segs += cnt;
		/* A message over 64 segments went, or a run cut to 64 after
		 * EINVAL went: either way the cap is known now. */
		if (cnt > SEGS_OLD || c->segs_probe)
			c->segs_known = 1;
		c->segs_probe = 0;
	}
}

/* Waits for room in the socket buffer: 0, -ESHUTDOWN or a negative errno. */
static int wait_out(struct tb_carrier *c)
{
	int r = tbi_poll_wake(c->fd, POLLOUT, c->wake_fd, -1);

	if (r < 0 && r != -ESHUTDOWN)
		return r;
	c->st.polls++;
	if (r < 0)
		return r;
	if ((r & (POLLERR | POLLNVAL)) && !(r & POLLOUT))
		return -EIO;
	return 0;
}

static void drop_all(struct tb_carrier *c)
{
	c->n = 0;
	c->ndst = 0;
	c->slab_used = 0;
}

/* What a failed message means. Returns 1 when the plan changed and
 * messages must be built again from *i (with datagrams before *alone sent
 * one by one), 0 when the message is dropped. */
static int refused(struct tb_carrier *c, unsigned k, int e, unsigned *i, unsigned *alone)
{
	unsigned cnt = (unsigned)c->smsg[k].msg_hdr.msg_iovlen, at = c->mfirst[k];

	if (cnt > 1 && e == EIO) {
		/* No segmentation on this route (IPsec, or before Linux 6.11 a
		 * device without checksum offload): off for good. */
		c->offloads &= ~(unsigned)TB_CARRIER_GSO;
		c->st.gso_fallbacks++;
		count_err(c, e);
		*i = at;
		return 1;
	}
	if (cnt > SEGS_OLD && e == EINVAL && !c->segs_known) {
		/* Maybe a kernel before 6.9: try the run cut to 64 segments. */
		c->max_segs = SEGS_OLD;
		c->segs_probe = 1;
		*i = at;
		return 1;
	}
	if (cnt > 1 && (e == EINVAL || e == EMSGSIZE)) {
		/* A segment over the route's MTU (EMSGSIZE on recent kernels,
		 * EINVAL on older ones): these datagrams go one by one, and
		 * the kernel fragments them. */
		if (c->segs_probe) {
			c->max_segs = SEGS_NEW; /* the cut did not help: not the cap */
			c->segs_probe = 0;
		}
		count_err(c, e);
		*i = at;
		*alone = at + cnt;
		return 1;
	}
	count_err(c, e);
	c->st.tx_dropped += cnt;
	return 0;
}

/* Sends every datagram held and empties the slab. Returns 0, the first
 * negative errno a datagram was dropped for, or -ESHUTDOWN (the rest
 * discarded). */
static int send_held(struct tb_carrier *c)
{
	unsigned i = 0, alone = 0;
	int first_err = 0;

	while (i < c->n) {
		unsigned k = build(c, i, alone), off = 0, rebuilt = 0;

		while (off < k && !rebuilt) {
			int r = sendmmsg(c->fd, c->smsg + off, k - off, 0);
			int e;

			c->st.send_calls++;
			if (r > 0) {
				account(c, off, (unsigned)r);
				off += (unsigned)r;
				continue;
			}
			e = r == 0 ? ENOBUFS : errno; /* 0 is not expected: no GSO verdict */
			if (e == EINTR)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK) {
				int w = wait_out(c);
				if (w == -ESHUTDOWN) {
					c->st.tx_dropped += c->n - c->mfirst[off];
					drop_all(c);
					return w;
				}
				if (!w)
					continue;
				/* The socket can't take it: not a verdict on
				 * segmentation, so this message is dropped. */
				count_err(c, -w);
				c->st.tx_dropped += c->smsg[off].msg_hdr.msg_iovlen;
				if (!first_err)
					first_err = w;
				off++;
				continue;
			}
			rebuilt = (unsigned)refused(c, off, e, &i, &alone);
			if (!rebuilt) {
				if (!first_err)
					first_err = -e;
				off++;
			}
		}
		if (!rebuilt)
			i = c->mfirst[k - 1] + (unsigned)c->smsg[k - 1].msg_hdr.msg_iovlen;
	}
	drop_all(c);
	return first_err;
}

/* A send made to free room: a drop is told by the next flush. */
static int send_for_room(struct tb_carrier *c)
{
	int e = send_held(c);

	if (e && e != -ESHUTDOWN && !c->pending_err)
		c->pending_err = e;
	return e == -ESHUTDOWN ? e : 0;
}

void *tb_carrier_reserve(struct tb_carrier *c, size_t size)
{
	size_t off;

	if (!c || size > TBI_DGRAM_MAX) {
		errno = EINVAL;
		return NULL;
	}
	off = (c->slab_used + SLAB_ALIGN - 1) & ~(size_t)(SLAB_ALIGN - 1);
	if (c->n == c->send_max || off > c->slab_size || size > c->slab_size - off) {
		if (send_for_room(c)) {
			errno = ESHUTDOWN;
			return NULL;
		}
		off = 0;
	}
	c->resv = 1;
	c->resv_off = off;
	c->resv_size = size;
	return c->slab + off;
}

int tb_carrier_commit(struct tb_carrier *c, const void *buf, size_t len, const struct sockaddr *to,
		      socklen_t to_len)
{
	struct dst d;
	int own;

	if (!c || (!buf && len) || len > TBI_DGRAM_MAX || dst_of(c, to, to_len, &d))
		return -EINVAL;
	own = c->resv && buf == c->slab + c->resv_off;
	if (own && len > c->resv_size)
		return -EINVAL;
	if (c->n == c->send_max && send_for_room(c))
		return -ESHUTDOWN;
	if (own) {
		c->slab_used = c->resv_off + len;
		c->resv = 0;
	}
	c->siov[c->n] = (struct iovec){(void *)buf, len};
	if (c->n && !memcmp(&c->dsts[c->sdst[c->n - 1]], &d, sizeof(d))) {
		c->sdst[c->n] = c->sdst[c->n - 1];
	} else {
		memcpy(&c->dsts[c->ndst], &d, sizeof(d)); /* every byte: they are compared */
		c->sdst[c->n] = c->ndst++;
	}
	c->n++;
	return 0;
}

int tb_carrier_flush(struct tb_carrier *c)
{
	int e, p;

	if (!c)
		return -EINVAL;
	e = send_held(c);
	p = c->pending_err;
	c->pending_err = 0;
	c->resv = 0;
	if (e == -ESHUTDOWN)
		return e;
	return p ? p : e;
}
