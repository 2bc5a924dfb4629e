/* SPDX-License-Identifier: MIT */
/* Kernel-test harness: namespaces removed whatever happens, a time bound. */
#define _GNU_SOURCE
#include "nsutil.h"
#include "testutil.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

static pid_t owner; /* the parent: namespace names carry its pid */
static int home_ns = -1;
static volatile sig_atomic_t got_signal;

void nsu_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "FAIL %s:%d: ", file, line);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(1);
}

void nsu_skip(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "SKIP: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	fflush(NULL);
	_exit(NSU_SKIP);
}

static int vsh(const char *fmt, va_list ap)
{
	char cmd[1024];
	int rc;

	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	rc = system(cmd);
	if (rc == -1)
		return -1;
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

int nsu_sh(const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vsh(fmt, ap);
	va_end(ap);
	return rc;
}

void nsu_run(const char *fmt, ...)
{
	char cmd[1024];
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	rc = nsu_sh("%s", cmd);
	if (rc != 0)
		NSU_FAIL("command failed (%d): %s", rc, cmd);
}

void nsu_sysctl(const char *path, const char *value)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);

	if (fd < 0)
		NSU_FAIL("open %s: %s", path, strerror(errno));
	if (write(fd, value, strlen(value)) != (ssize_t)strlen(value))
		NSU_FAIL("write %s=%s: %s", path, value, strerror(errno));
	close(fd);
}

void nsu_router(void)
{
	nsu_sysctl("/proc/sys/net/ipv4/ip_forward", "1");
	nsu_sysctl("/proc/sys/net/ipv4/conf/all/rp_filter", "0");
	nsu_sysctl("/proc/sys/net/ipv4/conf/default/rp_filter", "0");
	nsu_sysctl("/proc/sys/net/ipv6/conf/all/forwarding", "1");
	nsu_sysctl("/proc/sys/net/ipv6/conf/default/addr_gen_mode", "1");
}

void nsu_create(const char *tag, char *out, size_t outlen)
{
	snprintf(out, outlen, "tb%s_%d", tag, (int)owner);
	nsu_run("ip netns add %s", out);
	nsu_run("ip -n %s link set lo up", out);
}

void nsu_enter(const char *name)
{
	char path[256];
	int fd;

	if (!name) {
		if (setns(home_ns, CLONE_NEWNET) < 0)
			NSU_FAIL("setns home: %s", strerror(errno));
		return;
	}
	snprintf(path, sizeof(path), "/run/netns/%s", name);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		NSU_FAIL("open %s: %s", path, strerror(errno));
	if (setns(fd, CLONE_NEWNET) < 0)
		NSU_FAIL("setns %s: %s", name, strerror(errno));
	close(fd);
}

static uint64_t mix(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ull;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
	return x ^ (x >> 31);
}

void nsu_stream(uint64_t seed, uint64_t off, uint8_t *buf, size_t len)
{
	while (len) {
		uint64_t blk = off / 8, v = mix(seed ^ mix(blk));
		unsigned at = (unsigned)(off % 8);
		while (at < 8 && len) {
			*buf++ = (uint8_t)(v >> (8 * at));
			at++;
			off++;
			len--;
		}
	}
}

int nsu_csum_ok(const uint8_t *pkt, size_t len)
{
	size_t ip_len, l4_len;
	uint8_t proto;
	int v4;

	if (len < 20)
		return 0;
	v4 = pkt[0] >> 4 == 4;
	if (v4) {
		ip_len = (size_t)(pkt[0] & 15) * 4;
		if (ip_len < 20 || ip_len > len || tu_fold(tu_sum(pkt, ip_len, 0)) != 0xffff)
			return 0;
		proto = pkt[9];
		if ((pkt[6] & 0x3f) || pkt[7])
			return 1; /* a fragment: no L4 checksum to check here */
	} else if (pkt[0] >> 4 == 6 && len >= 40) {
		ip_len = 40;
		proto = pkt[6];
	} else {
		return 0;
	}
	l4_len = len - ip_len;
	if (proto == 17 && v4 && l4_len >= 8 && !pkt[ip_len + 6] && !pkt[ip_len + 7])
		return 1; /* IPv4 UDP without checksum */
	if (proto != 6 && proto != 17 && (proto != 58 || v4))
		return 1;
	return tu_fold(tu_sum(pkt + ip_len, l4_len, tu_pseudo(pkt, proto, (uint32_t)l4_len))) ==
	       0xffff;
}

/* ------------------------------------------------------------------------ */
/* The parent: time bound and clean-up                                      */
/* ------------------------------------------------------------------------ */

static void cleanup(void)
{
	char suffix[32];
	DIR *d = opendir("/run/netns");
	struct dirent *e;

	if (!d)
		return;
	snprintf(suffix, sizeof(suffix), "_%d", (int)owner);
	while ((e = readdir(d))) {
		size_t n = strlen(e->d_name), k = strlen(suffix);
		if (strncmp(e->d_name, "tb", 2) || n <= k || strcmp(e->d_name + n - k, suffix))
			continue;
		if (nsu_sh("ip netns del %s", e->d_name) != 0)
			fprintf(stderr, "warning: could not delete namespace %s\n", e->d_name);
	}
	closedir(d);
}

static void on_signal(int sig)
{
	got_signal = sig;
}

static int have_ip(void)
{
	return nsu_sh("ip -V >/dev/null 2>&1") == 0;
}

int nsu_main(const char *test, int (*fn)(void), unsigned timeout_s)
{
	struct sigaction sa;
	pid_t child;
	int status = 0, rc;
	unsigned long waited_ms = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (geteuid() != 0) {
		printf("SKIP %s: needs root\n", test);
		return NSU_SKIP;
	}
	if (access("/dev/net/tun", R_OK | W_OK) != 0) {
		printf("SKIP %s: no /dev/net/tun\n", test);
		return NSU_SKIP;
	}
	if (!have_ip()) {
		printf("SKIP %s: no ip (iproute2)\n", test);
		return NSU_SKIP;
	}
	owner = getpid();
	home_ns = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	fflush(NULL);
	child = fork();
	if (child < 0) {
		perror("fork");
		return 1;
	}
	if (child == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		rc = fn();
		fflush(NULL);
		_exit(rc);
	}
	/* Poll: signals and the time bound both end the child. */
	for (;;) {
		pid_t w = waitpid(child, &status, WNOHANG);
		if (w == child)
			break;
		if (w < 0 && errno != EINTR) {
			perror("waitpid");
			break;
		}
		if (got_signal || waited_ms >= 1000ul * timeout_s) {
			fprintf(stderr, "%s: %s, killing the test\n", test,
				got_signal ? "interrupted" : "out of time");
			kill(child, SIGKILL);
			waitpid(child, &status, 0);
			status = -1;
			break;
		}
		usleep(20000);
		waited_ms += 20;
	}
	cleanup();
	if (status == -1)
		return 1;
	if (WIFSIGNALED(status)) {
		fprintf(stderr, "%s: killed by signal %d\n", test, WTERMSIG(status));
		return 1;
	}
	rc = WIFEXITED(status) ? WEXITSTATUS(status) : 1;
	printf("%s: %s\n", test, rc == 0 ? "PASS" : rc == NSU_SKIP ? "SKIP" : "FAIL");
	return rc;
}

/* ---- a seeded TCP stream ------------------------------------------------ */

#define NSU_CHUNK (256 * 1024)

void nsu_tcp_timeouts(int fd, unsigned seconds)
{
	struct timeval tv = {.tv_sec = seconds};

	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
}

void *nsu_tcp_client(void *arg)
{
	struct nsu_tcp *t = arg;
	uint8_t *buf = malloc(NSU_CHUNK);
	uint64_t off = 0;

	if (!buf) {
		t->fail = "client: out of memory";
		return NULL;
	}
	while (off < t->bytes) {
		size_t n = t->bytes - off < NSU_CHUNK ? (size_t)(t->bytes - off) : NSU_CHUNK;
		nsu_stream(t->seed, off, buf, n);
		for (size_t done = 0; done < n;) {
			ssize_t w = send(t->cfd, buf + done, n - done, MSG_NOSIGNAL);
			if (w < 0 && errno == EINTR)
				continue;
			if (w <= 0) {
				t->fail = "client: send failed or timed out";
				t->fail_at = off + done;
				free(buf);
				return NULL;
			}
			done += (size_t)w;
		}
		off += n;
	}
	shutdown(t->cfd, SHUT_WR);
	free(buf);
	return NULL;
}

void *nsu_tcp_server(void *arg)
{
	struct nsu_tcp *t = arg;
	uint8_t *buf = malloc(NSU_CHUNK), *want = malloc(NSU_CHUNK);
	int fd = accept(t->lfd, NULL, NULL);

	if (fd < 0 || !buf || !want) {
		t->fail = "server: accept failed or out of memory";
		goto out;
	}
	nsu_tcp_timeouts(fd, t->idle_s);
	for (;;) {
		ssize_t r = recv(fd, buf, NSU_CHUNK, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			t->fail = "server: recv failed or timed out";
			t->fail_at = t->received;
			break;
		}
		if (r == 0)
			break;
		nsu_stream(t->seed, t->received, want, (size_t)r);
		if (memcmp(buf, want, (size_t)r)) {
			size_t k = 0;
			while (buf[k] == want[k])
				k++;
			t->fail = "server: stream corrupted";
			t->fail_at = t->received + k;
			break;
		}
		t->received += (uint64_t)r;
		if (t->progress)
			atomic_store(t->progress, t->received);
	}
	close(fd);
out:
	free(buf);
	free(want);
	return NULL;
}

void nsu_addr(const char *ip, uint16_t port, struct sockaddr_storage *ss, socklen_t *len)
{
	memset(ss, 0, sizeof(*ss));
	if (strchr(ip, ':')) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &a->sin6_addr);
		*len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		a->sin_family = AF_INET;
		a->sin_port = htons(port);
		inet_pton(AF_INET, ip, &a->sin_addr);
		*len = sizeof(*a);
	}
}
