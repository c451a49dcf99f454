/* eidlink PKCS#11 module: Linux and macOS. */
#define _GNU_SOURCE
#include "platform.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/random.h>
#endif

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static void (*reset_child)(void);

static void before_fork(void) { pthread_mutex_lock(&lock); }
static void after_fork_parent(void) { pthread_mutex_unlock(&lock); }
static void after_fork_child(void) {
	pthread_mutex_unlock(&lock);
	if (reset_child)
		reset_child();
}

static void register_fork(void) { pthread_atfork(before_fork, after_fork_parent, after_fork_child); }

void plat_setup(void (*child_reset)(void)) {
	reset_child = child_reset;
	pthread_once(&once, register_fork);
}

void plat_lock(void) { pthread_mutex_lock(&lock); }
void plat_unlock(void) { pthread_mutex_unlock(&lock); }

int64_t plat_now_ms(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int plat_random(void *b, size_t n) {
#ifdef __linux__
	unsigned char *p = b;
	while (n > 0) {
		ssize_t r = getrandom(p, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
#else
	arc4random_buf(b, n);
	return 0;
#endif
}

void plat_wipe(void *b, size_t n) {
	volatile unsigned char *p = b;
	while (n--)
		*p++ = 0;
}

const char *plat_getenv(const char *name) { return getenv(name); }

/* home is $HOME, else the user database's home directory. */
static int home(char *buf, size_t n) {
	const char *h = getenv("HOME");
	if (h && h[0] == '/') {
		if ((size_t)snprintf(buf, n, "%s", h) >= n)
			return -1;
		return 0;
	}
	struct passwd pw, *res = NULL;
	char tmp[4096];
	if (getpwuid_r(geteuid(), &pw, tmp, sizeof tmp, &res) != 0 || !res || !pw.pw_dir)
		return -1;
	return (size_t)snprintf(buf, n, "%s", pw.pw_dir) >= n ? -1 : 0;
}

/* xdg_path writes $env/eidlink/file when $env (else $env2) is an
 * absolute path, else HOME/fallback/eidlink/file: the service's own rule
 * (internal/ipc, paths.go). */
static int xdg_path(char *buf, size_t n, const char *env, const char *env2, const char *fallback, const char *file) {
	const char *d = env ? getenv(env) : NULL;
	if ((!d || d[0] != '/') && env2)
		d = getenv(env2);
	if (d && d[0] == '/')
		return (size_t)snprintf(buf, n, "%s/eidlink/%s", d, file) >= n ? -1 : 0;
	char h[1024];
	if (home(h, sizeof h) != 0)
		return -1;
	return (size_t)snprintf(buf, n, "%s/%s/eidlink/%s", h, fallback, file) >= n ? -1 : 0;
}

/* override writes $env/file when $env is an absolute path: the
 * EIDLINK_CONFIG_DIR and EIDLINK_RUNTIME_DIR that give a test profile a
 * service of its own (internal/ipc, paths.go). It returns 1 when it wrote
 * buf, 0 when env is unset, -1 when buf is too small. */
static int override(char *buf, size_t n, const char *env, const char *file) {
	const char *d = getenv(env);
	if (!d || d[0] != '/')
		return 0;
	return (size_t)snprintf(buf, n, "%s/%s", d, file) >= n ? -1 : 1;
}

static int secret_path(char *buf, size_t n) {
	int r = override(buf, n, "EIDLINK_CONFIG_DIR", "service.key");
	if (r)
		return r < 0 ? -1 : 0;
#ifdef __APPLE__
	return xdg_path(buf, n, NULL, NULL, "Library/Application Support", "service.key");
#else
	return xdg_path(buf, n, "XDG_CONFIG_HOME", NULL, ".config", "service.key");
#endif
}

static int socket_path(char *buf, size_t n) {
	int r = override(buf, n, "EIDLINK_RUNTIME_DIR", "service.sock");
	if (r)
		return r < 0 ? -1 : 0;
#ifdef __APPLE__
	return xdg_path(buf, n, NULL, NULL, "Library/Caches", "service.sock");
#else
	return xdg_path(buf, n, "XDG_RUNTIME_DIR", "XDG_CACHE_HOME", ".cache", "service.sock");
#endif
}

static int hexdigit(char c) {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int plat_read_secret(char hex[65]) {
	char path[1200];
	if (secret_path(path, sizeof path) != 0)
		return -1;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -1;
	struct stat st;
	char buf[80];
	ssize_t n = -1;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == geteuid() && (st.st_mode & 077) == 0)
		n = read(fd, buf, sizeof buf);
	close(fd);
	int ok = n >= 64;
	for (ssize_t i = 0; ok && i < n; i++) {
		if (i < 64)
			ok = hexdigit(buf[i]);
		else
			ok = buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ' || buf[i] == '\t';
	}
	if (ok) {
		memcpy(hex, buf, 64);
		hex[64] = 0;
	}
	plat_wipe(buf, sizeof buf);
	return ok ? 0 : -1;
}

static int peer_is_me(int fd) {
#if defined(__linux__)
	struct ucred cred;
	socklen_t len = sizeof cred;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0 || len != sizeof cred)
		return 0;
	return cred.uid == geteuid();
#else
	uid_t uid;
	gid_t gid;
	if (getpeereid(fd, &uid, &gid) != 0)
		return 0;
	return uid == geteuid();
#endif
}

static int wait_fd(int fd, short events, int64_t deadline_ms) {
	for (;;) {
		int64_t left = deadline_ms - plat_now_ms();
		if (left <= 0)
			return PLAT_TIMEOUT;
		struct pollfd p = {.fd = fd, .events = events};
		int r = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (r > 0)
			return 0;
		if (r < 0 && errno != EINTR)
			return PLAT_ERR;
	}
}

int plat_connect(plat_sock *s, int64_t deadline_ms) {
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	if (socket_path(addr.sun_path, sizeof addr.sun_path) != 0)
		return -1;
#ifdef SOCK_CLOEXEC
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
#else
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd >= 0) {
		fcntl(fd, F_SETFD, FD_CLOEXEC);
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	}
#endif
	if (fd < 0)
		return -1;
#ifdef SO_NOSIGPIPE
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
#endif
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		int ok = 0;
		if (errno == EINPROGRESS || errno == EAGAIN) {
			int err = 0;
			socklen_t len = sizeof err;
			ok = wait_fd(fd, POLLOUT, deadline_ms) == 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0;
		}
		if (!ok) {
			close(fd);
			return -1;
		}
	}
	if (!peer_is_me(fd)) {
		close(fd);
		return -1;
	}
	*s = fd;
	return 0;
}

int plat_send(plat_sock s, const void *b, size_t n, int64_t deadline_ms) {
	const char *p = b;
	while (n > 0) {
#ifdef MSG_NOSIGNAL
		ssize_t r = send(s, p, n, MSG_NOSIGNAL);
#else
		ssize_t r = send(s, p, n, 0);
#endif
		if (r > 0) {
			p += r;
			n -= (size_t)r;
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && wait_fd(s, POLLOUT, deadline_ms) == 0)
			continue;
		return -1;
	}
	return 0;
}

long plat_recv(plat_sock s, void *b, size_t n, int64_t deadline_ms) {
	for (;;) {
		ssize_t r = recv(s, b, n, 0);
		if (r >= 0)
			return (long)r;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return PLAT_ERR;
		int w = wait_fd(s, POLLIN, deadline_ms);
		if (w != 0)
			return w;
	}
}

void plat_close(plat_sock s) { close(s); }
