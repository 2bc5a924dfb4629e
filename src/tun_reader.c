/* SPDX-License-Identifier: MIT */
/* The TUN device's reader: drain a queue, check every virtio header. */
#include "tun.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

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

	_Static_assert(TB_VNET_E_COUNT <= TB_STATS_VNET_ERRS,
		       "struct tb_tun_reader_stats: bad is full");
	if (!t || queue >= t->nq ||
	    (opts && !tbi_reserved_zero(opts->reserved, sizeof(opts->reserved)))) {
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
		errno = ENOMEM;
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
