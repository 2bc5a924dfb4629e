/* SPDX-License-Identifier: MIT */
/*
 * The wake eventfd shared by the device and the carrier: one blocking wait
 * on an fd that also ends when the owner is woken for shutdown.
 */
#include "internal.h"

#include <errno.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <time.h>
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

static int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int tbi_poll_wake(int fd, short events, int wake_fd, int timeout_ms)
{
	struct pollfd p[2] = {
		{.fd = fd, .events = events},
		{.fd = wake_fd, .events = POLLIN},
	};
	int64_t end = timeout_ms > 0 ? now_ns() + (int64_t)timeout_ms * 1000000 : 0;
	int n, left = timeout_ms;

	/* A signal does not end the wait, nor restart it: the time left goes on
	 * (rounded up, so that the wait is never cut short). */
	while ((n = poll(p, 2, left)) < 0 && errno == EINTR) {
		if (timeout_ms > 0) {
			int64_t rest = end - now_ns();
			left = rest > 0 ? (int)((rest + 999999) / 1000000) : 0;
		}
	}
	if (n < 0)
		return -errno;
	if (p[1].revents)
		return -ESHUTDOWN;
	return n ? p[0].revents : 0;
}
