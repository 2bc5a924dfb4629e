/* SPDX-License-Identifier: MIT */
/* The TUN device's writer: one writev per packet or superpacket. */
#include "tun.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/uio.h>

static int tun_writer_write(struct tb_writer *w, const void *pkt, size_t len);
static int tun_writer_write_gso(struct tb_writer *w, const struct tb_superpacket *sp);

/* Writers come last: every field they read is settled by then. */
int tbi_tun_make_writers(struct tb_tun *t)
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

struct tb_writer *tb_tun_writer(struct tb_tun *t, unsigned queue)
{
	if (queue >= t->nq) {
		errno = EINVAL;
		return NULL;
	}
	return &t->writers[queue]->w;
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
