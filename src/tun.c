/* SPDX-License-Identifier: MIT */
/*
 * The Linux TUN device: open or attach, negotiate offloads, write packets
 * and superpackets, read and validate what the kernel hands over.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/if_tun.h>

/* Older headers (Debian 12's among them) lack some of these. */
#ifndef IFF_VNET_HDR
#define IFF_VNET_HDR 0x4000
#endif
#ifndef IFF_MULTI_QUEUE
#define IFF_MULTI_QUEUE 0x0100
#endif
#ifndef TUNSETOFFLOAD
#define TUNSETOFFLOAD _IOW('T', 208, unsigned int)
#endif
#ifndef TUNSETVNETHDRSZ
#define TUNSETVNETHDRSZ _IOW('T', 216, int)
#endif
#ifndef TUNGETIFF
#define TUNGETIFF _IOR('T', 210, unsigned int)
#endif
#ifndef TUN_F_CSUM
#define TUN_F_CSUM 0x01
#endif
#ifndef TUN_F_TSO4
#define TUN_F_TSO4 0x02
#endif
#ifndef TUN_F_TSO6
#define TUN_F_TSO6 0x04
#endif
#ifndef TUN_F_TSO_ECN
#define TUN_F_TSO_ECN 0x08
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#define TB_TUN_USO   (TB_TUN_USO4 | TB_TUN_USO6)
#define TB_TUN_KNOWN (TB_TUN_ALL | TB_TUN_TSO_ECN)
/* Payload iovecs a superpacket may bring; the coalescer's cap is far below. */
#define WRITER_IOV 1024

struct tun_writer {
	struct tb_writer w; /* first: container_of is a cast */
	struct tb_tun *t;
	int fd;
	struct iovec iov[WRITER_IOV];
};

struct tb_tun {
	char name[IFNAMSIZ];
	unsigned nq;
	int *fds;
	struct tun_writer **writers;
	int wake_fd;
	int attached; /* the fd is the caller's */
	int vnet;
	unsigned offloads;
	unsigned caps;
};

static unsigned to_kernel(unsigned o)
{
	unsigned k = 0;

	k |= o & TB_TUN_CSUM ? TUN_F_CSUM : 0;
	k |= o & TB_TUN_TSO4 ? TUN_F_TSO4 : 0;
	k |= o & TB_TUN_TSO6 ? TUN_F_TSO6 : 0;
	k |= o & TB_TUN_USO4 ? TUN_F_USO4 : 0;
	k |= o & TB_TUN_USO6 ? TUN_F_USO6 : 0;
	k |= o & TB_TUN_TSO_ECN ? TUN_F_TSO_ECN : 0;
	return k;
}

/* The kernel rejects segmentation offloads without checksum offload, and
 * ECN without TSO. */
static unsigned sane_offloads(unsigned o)
{
	o &= TB_TUN_KNOWN;
	if (!(o & TB_TUN_CSUM))
		return 0;
	if (!(o & (TB_TUN_TSO4 | TB_TUN_TSO6)))
		o &= ~(unsigned)TB_TUN_TSO_ECN;
	return o;
}

static unsigned caps_of(unsigned o)
{
	unsigned caps = 0;

	if ((o & (TB_TUN_TSO4 | TB_TUN_TSO6)) == (TB_TUN_TSO4 | TB_TUN_TSO6))
		caps |= TB_CAP_TSO;
	if ((o & TB_TUN_USO) == TB_TUN_USO)
		caps |= TB_CAP_USO;
	return caps;
}

/*
 * Asks for the offloads wanted; a kernel that does not know USO says EINVAL,
 * so try again without it, and last with none at all. Returns what holds.
 */
static unsigned negotiate(int fd, unsigned want)
{
	unsigned tries[2];
	int n = 0;

	want = sane_offloads(want);
	tries[n++] = want;
	if (want & TB_TUN_USO)
		tries[n++] = want & ~(unsigned)TB_TUN_USO;
	for (int i = 0; i < n; i++) {
		if (!tries[i])
			break;
		if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)to_kernel(tries[i])) == 0)
			return tries[i];
	}
	ioctl(fd, TUNSETOFFLOAD, 0ul);
	return 0;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

static int tun_writer_write(struct tb_writer *w, const void *pkt, size_t len);
static int tun_writer_write_gso(struct tb_writer *w, const struct tb_superpacket *sp);

static struct tb_tun *tun_alloc(unsigned nq)
{
	struct tb_tun *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->wake_fd = -1;
	t->fds = malloc(nq * sizeof(*t->fds));
	t->writers = calloc(nq, sizeof(*t->writers));
	if (!t->fds || !t->writers)
		goto fail;
	for (unsigned i = 0; i < nq; i++)
		t->fds[i] = -1;
	t->nq = nq;
	t->wake_fd = tbi_wake_open();
	if (t->wake_fd < 0)
		goto fail;
	return t;
fail:
	tb_tun_close(t);
	return NULL;
}

/* Writers come last: every field they read is settled by then. */
static int make_writers(struct tb_tun *t)
{
	for (unsigned i = 0; i < t->nq; i++) {
		struct tun_writer *tw = calloc(1, sizeof(*tw));
		if (!tw)
			return -ENOMEM;
		tw->w.write = tun_writer_write;
		tw->w.write_gso = tun_writer_write_gso;
		tw->w.caps = t->caps;
		tw->t = t;
		tw->fd = t->fds[i];
		t->writers[i] = tw;
	}
	return 0;
}

static void set_err(int *err, int e)
{
	if (err)
		*err = e;
}

static int open_queue(struct tb_tun *t, const char *name, short flags, int *fd_out)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	if (name && *name)
		strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		int e = -errno;
		close(fd);
		return e;
	}
	memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
	t->name[IFNAMSIZ - 1] = 0;
	*fd_out = fd;
	return 0;
}

static int setup_vnet(struct tb_tun *t, int fd, unsigned want)
{
	int sz = TB_VNET_HDR_LEN;

	/* An attached device may have been told another size. */
	if (ioctl(fd, TUNSETVNETHDRSZ, &sz) < 0)
		return -errno;
	t->offloads = negotiate(fd, want);
	t->caps = caps_of(t->offloads);
	return 0;
}

/* Where open and attach end: writers for a device set up without error (e
 * == 0), else everything taken back. */
static struct tb_tun *finish(struct tb_tun *t, int e, int *err)
{
	if (!e)
		e = make_writers(t);
	set_err(err, e);
	if (e) {
		tb_tun_close(t);
		return NULL;
	}
	return t;
}

struct tb_tun *tb_tun_open(const struct tb_tun_opts *opts, int *err)
{
	struct tb_tun_opts o = opts ? *opts : (struct tb_tun_opts){0};
	unsigned nq = o.queues ? o.queues : 1;
	unsigned want = o.offloads ? o.offloads : TB_TUN_ALL;
	short flags = IFF_TUN | IFF_NO_PI;
	struct tb_tun *t;
	int e;

	if (nq > TB_TUN_MAX_QUEUES || (o.name && strlen(o.name) >= IFNAMSIZ)) {
		set_err(err, -EINVAL);
		return NULL;
	}
	t = tun_alloc(nq);
	if (!t) {
		set_err(err, -ENOMEM);
		return NULL;
	}
	if (nq > 1)
		flags |= IFF_MULTI_QUEUE;
	e = -EINVAL;
	if (!o.no_vnet_hdr) {
		e = open_queue(t, o.name, flags | IFF_VNET_HDR, &t->fds[0]);
		t->vnet = e == 0;
	}
	/* A kernel without virtio headers: plain packets, every lane off. */
	if (e == -EINVAL)
		e = open_queue(t, o.name, flags, &t->fds[0]);
	if (e)
		goto done;
	if (t->vnet)
		flags |= IFF_VNET_HDR;
	/* Every further queue attaches by the name the first one got. */
	for (unsigned i = 1; i < nq; i++) {
		e = open_queue(t, t->name, flags, &t->fds[i]);
		if (e)
			goto done;
	}
	if (t->vnet && (e = setup_vnet(t, t->fds[0], want)))
		goto done;
done:
	return finish(t, e, err);
}

struct tb_tun *tb_tun_attach(int fd, const struct tb_tun_opts *opts, int *err)
{
	struct tb_tun_opts o = opts ? *opts : (struct tb_tun_opts){0};
	unsigned want = o.offloads ? o.offloads : TB_TUN_ALL;
	struct tb_tun *t;
	struct ifreq ifr;
	int e;

	if (fd < 0) {
		set_err(err, -EBADF);
		return NULL;
	}
	t = tun_alloc(1);
	if (!t) {
		set_err(err, -ENOMEM);
		return NULL;
	}
	t->attached = 1;
	t->fds[0] = fd;
	if ((e = set_nonblock(fd)))
		goto done;
	memset(&ifr, 0, sizeof(ifr));
	if (ioctl(fd, TUNGETIFF, &ifr) == 0) {
		memcpy(t->name, ifr.ifr_name, IFNAMSIZ);
		t->name[IFNAMSIZ - 1] = 0;
		t->vnet = !!(ifr.ifr_flags & IFF_VNET_HDR);
		if (t->vnet && (e = setup_vnet(t, fd, want)))
			goto done;
	} else {
		t->vnet = !o.no_vnet_hdr;
		t->offloads = t->vnet ? sane_offloads(want) : 0;
		t->caps = caps_of(t->offloads);
	}
done:
	return finish(t, e, err);
}

void tb_tun_close(struct tb_tun *t)
{
	if (!t)
		return;
	for (unsigned i = 0; i < t->nq; i++) {
		if (t->fds && t->fds[i] >= 0 && !t->attached)
			close(t->fds[i]);
		if (t->writers)
			free(t->writers[i]);
	}
	if (t->wake_fd >= 0)
		close(t->wake_fd);
	free(t->fds);
	free(t->writers);
	free(t);
}

int tb_tun_fd(const struct tb_tun *t, unsigned queue)
{
	return queue < t->nq ? t->fds[queue] : -1;
}

unsigned tb_tun_queues(const struct tb_tun *t)
{
	return t->nq;
}

const char *tb_tun_name(const struct tb_tun *t)
{
	return t->name;
}

int tb_tun_vnet(const struct tb_tun *t)
{
	return t->vnet;
}

unsigned tb_tun_offloads(const struct tb_tun *t)
{
	return t->offloads;
}

unsigned tb_tun_caps(const struct tb_tun *t)
{
	return t->caps;
}

void tb_tun_wake(struct tb_tun *t)
{
	tbi_wake(t->wake_fd);
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

struct tb_writer *tb_tun_writer(struct tb_tun *t, unsigned queue)
{
	return queue < t->nq ? &t->writers[queue]->w : NULL;
}

/* Waits until fd takes a write; -ESHUTDOWN when the device is woken. */
static int wait_writable(const struct tb_tun *t, int fd)
{
	int r = tbi_poll_wake(fd, POLLOUT, t->wake_fd, -1);

	if (r < 0)
		return r;
	if (r & (POLLERR | POLLNVAL))
		return -EIO;
	return 0; /* POLLOUT, or POLLHUP which the write reports */
}

static int send_iov(struct tun_writer *tw, const struct iovec *iov, int n, size_t len)
{
	for (;;) {
		ssize_t r = writev(tw->fd, iov, n);
		if (r >= 0)
			return (size_t)r == len ? 0 : -EIO; /* TUN takes a packet whole */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		int e = wait_writable(tw->t, tw->fd);
		if (e)
			return e;
	}
}

static int tun_writer_write(struct tb_writer *w, const void *pkt, size_t len)
{
	struct tun_writer *tw = (struct tun_writer *)w;
	static const uint8_t zero[TB_VNET_HDR_LEN];
	struct iovec iov[2];
	int n = 0;

	if (tw->t->vnet)
		iov[n++] = (struct iovec){(void *)zero, TB_VNET_HDR_LEN};
	iov[n++] = (struct iovec){(void *)pkt, len};
	return send_iov(tw, iov, n, (tw->t->vnet ? TB_VNET_HDR_LEN : 0) + len);
}

static int tun_writer_write_gso(struct tb_writer *w, const struct tb_superpacket *sp)
{
	struct tun_writer *tw = (struct tun_writer *)w;
	uint8_t vh[TB_VNET_HDR_LEN];
	size_t len = sp->vnet.hdr_len;

	/* Without virtio headers there is no way to say what it is. */
	if (!tw->t->vnet)
		return -EOPNOTSUPP;
	if (sp->n_payload > WRITER_IOV - 2)
		return -EMSGSIZE;
	tb_vnet_encode(&sp->vnet, vh);
	tw->iov[0] = (struct iovec){vh, TB_VNET_HDR_LEN};
	tw->iov[1] = (struct iovec){(void *)sp->hdr, sp->vnet.hdr_len};
	for (unsigned i = 0; i < sp->n_payload; i++) {
		tw->iov[2 + i] = sp->payload[i];
		len += sp->payload[i].iov_len;
	}
	if (len != sp->len)
		return -EINVAL;
	return send_iov(tw, tw->iov, (int)sp->n_payload + 2, TB_VNET_HDR_LEN + len);
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

/* A TUN packet is at most 64 KiB (the device's GSO size limit). */
#define READ_ROOM	 ((size_t)65536 + 64)
#define READ_DEFAULT_BUF ((size_t)1 << 20)
#define READ_DEFAULT_MAX 64

struct tb_tun_reader {
	struct tb_tun *t;
	int fd;
	unsigned max_pkts;
	size_t size;
	uint8_t *buf;
	struct tb_tun_pkt *pkts;
	struct tb_tun_reader_stats st;
};

struct tb_tun_reader *tb_tun_reader_create(struct tb_tun *t, unsigned queue,
					   const struct tb_tun_reader_opts *opts)
{
	struct tb_tun_reader *r;

	if (!t || queue >= t->nq) {
		errno = EINVAL;
		return NULL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->t = t;
	r->fd = t->fds[queue];
	r->size = opts && opts->buf_size ? opts->buf_size : READ_DEFAULT_BUF;
	if (r->size < READ_ROOM)
		r->size = READ_ROOM;
	r->max_pkts = opts && opts->max_pkts ? opts->max_pkts : READ_DEFAULT_MAX;
	r->buf = malloc(r->size);
	r->pkts = calloc(r->max_pkts, sizeof(*r->pkts));
	if (!r->buf || !r->pkts) {
		tb_tun_reader_destroy(r);
		return NULL;
	}
	return r;
}

void tb_tun_reader_destroy(struct tb_tun_reader *r)
{
	if (!r)
		return;
	free(r->buf);
	free(r->pkts);
	free(r);
}

void tb_tun_reader_stats(const struct tb_tun_reader *r, struct tb_tun_reader_stats *out)
{
	*out = r->st;
}

/* Checks one packet just read; 1 when it is delivered. */
static int accept_pkt(struct tb_tun_reader *r, struct tb_tun_pkt *p, const uint8_t *vh_raw,
		      size_t got, size_t room)
{
	size_t hl = r->t->vnet ? TB_VNET_HDR_LEN : 0;
	enum tb_vnet_err e;

	r->st.reads++;
	if (got < hl) {
		r->st.short_reads++;
		r->st.dropped++;
		return 0;
	}
	p->len = got - hl;
	if (p->len >= room) {
		r->st.oversize++;
		r->st.dropped++;
		return 0;
	}
	memset(&p->vnet, 0, sizeof(p->vnet));
	if (hl) {
		tb_vnet_decode(vh_raw, &p->vnet);
		e = tb_vnet_validate(&p->vnet, p->data, p->len);
		if (e != TB_VNET_OK) {
			r->st.bad[(unsigned)e < TB_VNET_E_COUNT ? e : 0]++;
			r->st.dropped++;
			return 0;
		}
	}
	r->st.pkts++;
	r->st.bytes += p->len;
	if (p->vnet.flags & TB_VNET_F_NEEDS_CSUM)
		r->st.csum_partial++;
	if (p->vnet.gso_type != TB_GSO_NONE) {
		size_t pay = p->len - p->vnet.hdr_len;
		r->st.superpackets++;
		r->st.segments += (pay + p->vnet.gso_size - 1) / p->vnet.gso_size;
	}
	return 1;
}

int tb_tun_read(struct tb_tun_reader *r, int timeout_ms, const struct tb_tun_pkt **pkts)
{
	uint8_t vh_raw[TB_VNET_HDR_LEN];
	struct iovec iov[2];
	size_t used = 0;
	unsigned n = 0;
	int rc;

	*pkts = r->pkts;
	rc = tbi_poll_wake(r->fd, POLLIN, r->t->wake_fd, timeout_ms);
	if (rc < 0 && rc != -ESHUTDOWN)
		return rc;
	r->st.polls++;
	if (rc <= 0)
		return rc; /* woken, or out of time */
	if (rc & POLLNVAL)
		return -EBADF;
	while (n < r->max_pkts && r->size - used >= READ_ROOM) {
		struct tb_tun_pkt *p = &r->pkts[n];
		size_t room = r->size - used;
		int cnt = 0;
		ssize_t got;

		p->data = r->buf + used;
		if (r->t->vnet)
			iov[cnt++] = (struct iovec){vh_raw, TB_VNET_HDR_LEN};
		iov[cnt++] = (struct iovec){p->data, room};
		got = readv(r->fd, iov, cnt);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN || errno == EWOULDBLOCK)
				break;
			r->st.errors++;
			if (n)
				break; /* deliver these; the error comes back next time */
			return -errno;
		}
		if (got == 0) {
			if (n)
				break;
			return -EPIPE; /* the peer of a socket or pipe is gone */
		}
		if (!accept_pkt(r, p, vh_raw, (size_t)got, room))
			continue;
		used += (p->len + 15) & ~(size_t)15; /* keep packets 16-byte aligned */
		n++;
	}
	return (int)n;
}
