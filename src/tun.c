/* SPDX-License-Identifier: MIT */
/*
 * The Linux TUN device: open or attach, negotiate offloads, wake. Its
 * writer is in tun_writer.c, its reader in tun_reader.c.
 */
#include "tun.h"

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

/* NULL with errno set: ENOMEM, or why the eventfd could not be made
 * (EMFILE, ENFILE, ...). */
static struct tb_tun *tun_alloc(unsigned nq)
{
	struct tb_tun *t = calloc(1, sizeof(*t));
	int e = -ENOMEM;

	if (!t) {
		errno = ENOMEM;
		return NULL;
	}
	t->wake_fd = -1;
	t->fds = malloc(nq * sizeof(*t->fds));
	t->writers = calloc(nq, sizeof(*t->writers));
	if (!t->fds || !t->writers)
		goto fail;
	for (unsigned i = 0; i < nq; i++)
		t->fds[i] = -1;
	t->nq = nq;
	t->wake_fd = tbi_wake_open();
	if (t->wake_fd < 0) {
		e = t->wake_fd;
		goto fail;
	}
	return t;
fail:
	tb_tun_close(t);
	errno = -e;
	return NULL;
}

static int open_queue(struct tb_tun *t, const char *name, short flags, int *fd_out)
{
	struct ifreq ifr;
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC | O_NONBLOCK);

	if (fd < 0)
		return -errno;
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = flags;
	if (name && *name) /* the caller checked it fits; ifr is zeroed */
		memcpy(ifr.ifr_name, name, strnlen(name, IFNAMSIZ - 1));
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
 * == 0), else everything taken back and NULL with errno set. */
static struct tb_tun *finish(struct tb_tun *t, int e)
{
	if (!e)
		e = tbi_tun_make_writers(t);
	if (e) {
		tb_tun_close(t);
		errno = -e;
		return NULL;
	}
	return t;
}

struct tb_tun *tb_tun_open(const struct tb_tun_opts *opts)
{
	struct tb_tun_opts o = opts ? *opts : (struct tb_tun_opts){0};
	unsigned nq = o.queues ? o.queues : 1;
	unsigned want = o.offloads ? o.offloads : TB_TUN_ALL;
	short flags = IFF_TUN | IFF_NO_PI;
	struct tb_tun *t;
	int e;

	if (nq > TB_TUN_MAX_QUEUES || (o.name && strlen(o.name) >= IFNAMSIZ) ||
	    !tbi_reserved_zero(o.reserved, sizeof(o.reserved))) {
		errno = EINVAL;
		return NULL;
	}
	t = tun_alloc(nq);
	if (!t)
		return NULL;
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
	return finish(t, e);
}

struct tb_tun *tb_tun_attach(int fd, const struct tb_tun_opts *opts)
{
	struct tb_tun_opts o = opts ? *opts : (struct tb_tun_opts){0};
	unsigned want = o.offloads ? o.offloads : TB_TUN_ALL;
	struct tb_tun *t;
	struct ifreq ifr;
	int e;

	if (fd < 0) {
		errno = EBADF;
		return NULL;
	}
	if (!tbi_reserved_zero(o.reserved, sizeof(o.reserved))) {
		errno = EINVAL;
		return NULL;
	}
	t = tun_alloc(1);
	if (!t)
		return NULL;
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
	} else if (errno == EBADFD) {
		/* /dev/net/tun never bound with TUNSETIFF: it carries nothing. */
		e = -EBADFD;
	} else {
		t->vnet = !o.no_vnet_hdr;
		t->offloads = t->vnet ? sane_offloads(want) : 0;
		t->caps = caps_of(t->offloads);
	}
done:
	return finish(t, e);
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
	return queue < t->nq ? t->fds[queue] : -EINVAL;
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
