/* SPDX-License-Identifier: MIT */
/*
 * The wake eventfd shared by the device and the carrier: one blocking wait
 * on an fd that also ends when the owner is woken for shutdown.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

int tbi_wake_open(void)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);

	return fd < 0 ? -errno : fd;
}

void tbi_wake(int wake_fd)
{
	uint64_t one = 1;

	/* Never read back: it stays readable, so every later poll sees it. */
	if (write(wake_fd, &one, sizeof(one)) < 0) {
		/* Full counter: already woken. */
	}
}

int tbi_poll_wake(int fd, short events, int wake_fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{.fd = fd, .events = events},
		{.fd = wake_fd, .events = POLLIN},
	};
	int n;

	do
		n = poll(p, 2, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (p[1].revents)
		return -ESHUTDOWN;
	return n ? p[0].revents : 0;
}
