/* SPDX-License-Identifier: MIT */
/* The TUN device's insides, shared by its device, writer and reader files. */
#ifndef TB_TUN_H
#define TB_TUN_H

#include "internal.h"

#include <net/if.h>

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

/* One writer per queue, made last when the device is set up. */
int tbi_tun_make_writers(struct tb_tun *t);

#endif
