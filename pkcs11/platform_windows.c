/* eidlink PKCS#11 module: Windows. The service listens on loopback TCP and
 * writes its address to %LocalAppData%\eidlink\service.endpoint, beside the
 * secret (internal/service, paths.go). As for eidlink-host, the module
 * trusts the listener that the user's own endpoint file names; the
 * service checks the secret. */
#define WIN32_LEAN_AND_MEAN
#include "platform.h"

#include <winsock2.h>
#include <ws2tcpip.h>
#include <windows.h>
#include <bcrypt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static SRWLOCK lock = SRWLOCK_INIT;

void plat_setup(void (*child_reset)(void)) { (void)child_reset; }
void plat_lock(void) { AcquireSRWLockExclusive(&lock); }
void plat_unlock(void) { ReleaseSRWLockExclusive(&lock); }

int64_t plat_now_ms(void) { return (int64_t)GetTickCount64(); }

int plat_random(void *b, size_t n) {
	return BCryptGenRandom(NULL, b, (ULONG)n, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0 ? 0 : -1;
}

void plat_wipe(void *b, size_t n) { SecureZeroMemory(b, n); }

const char *plat_getenv(const char *name) { return getenv(name); }

/* read_file reads %LocalAppData%\eidlink\name (%EIDLINK_CONFIG_DIR%\name
 * when set: a test profile's own service, internal/ipc, paths.go), at
 * most n-1 bytes, NUL-terminated; the length or -1. */
static int read_file(const char *name, char *buf, size_t n) {
	const char *own = getenv("EIDLINK_CONFIG_DIR");
	const char *dir = getenv("LOCALAPPDATA");
	char path[MAX_PATH];
	if (own && own[0]) {
		if ((size_t)snprintf(path, sizeof path, "%s\\%s", own, name) >= sizeof path)
			return -1;
	} else if (!dir || (size_t)snprintf(path, sizeof path, "%s\\eidlink\\%s", dir, name) >= sizeof path)
		return -1;
	HANDLE f = CreateFileA(path, GENERIC_READ, FILE_SHARE_READ, NULL, OPEN_EXISTING, FILE_ATTRIBUTE_NORMAL, NULL);
	if (f == INVALID_HANDLE_VALUE)
		return -1;
	DWORD got = 0;
	BOOL ok = ReadFile(f, buf, (DWORD)(n - 1), &got, NULL);
	CloseHandle(f);
	if (!ok)
		return -1;
	buf[got] = 0;
	return (int)got;
}

static int hexdigit(char c) {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int plat_read_secret(char hex[65]) {
	char buf[80];
	int n = read_file("service.key", buf, sizeof buf);
	int ok = n >= 64;
	for (int i = 0; ok && i < n; i++)
		ok = i < 64 ? hexdigit(buf[i]) : (buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ');
	if (ok) {
		memcpy(hex, buf, 64);
		hex[64] = 0;
	}
	SecureZeroMemory(buf, sizeof buf);
	return ok ? 0 : -1;
}

static int wait_sock(SOCKET s, int write, int64_t deadline_ms) {
	int64_t left = deadline_ms - plat_now_ms();
	if (left <= 0)
		return PLAT_TIMEOUT;
	WSAPOLLFD p = {.fd = s, .events = write ? POLLWRNORM : POLLRDNORM};
	int r = WSAPoll(&p, 1, left > 60000 ? 60000 : (int)left);
	return r > 0 ? 0 : r == 0 ? PLAT_TIMEOUT : PLAT_ERR;
}

int plat_connect(plat_sock *out, int64_t deadline_ms) {
	char ep[128];
	unsigned port = 0;
	if (read_file("service.endpoint", ep, sizeof ep) < 0 || sscanf(ep, "tcp:127.0.0.1:%u", &port) != 1 || port == 0 || port > 65535)
		return -1;
	WSADATA wsa;
	if (WSAStartup(MAKEWORD(2, 2), &wsa) != 0)
		return -1;
	SOCKET s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
	if (s == INVALID_SOCKET) {
		WSACleanup();
		return -1;
	}
	u_long nb = 1;
	ioctlsocket(s, FIONBIO, &nb);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((u_short)port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) {
		int err = 0, len = sizeof err;
		if (WSAGetLastError() != WSAEWOULDBLOCK || wait_sock(s, 1, deadline_ms) != 0 ||
		    getsockopt(s, SOL_SOCKET, SO_ERROR, (char *)&err, &len) != 0 || err != 0) {
			closesocket(s);
			WSACleanup();
			return -1;
		}
	}
	*out = (plat_sock)s;
	return 0;
}

int plat_send(plat_sock ps, const void *b, size_t n, int64_t deadline_ms) {
	SOCKET s = (SOCKET)ps;
	const char *p = b;
	while (n > 0) {
		int r = send(s, p, n > 1 << 30 ? 1 << 30 : (int)n, 0);
		if (r > 0) {
			p += r;
			n -= (size_t)r;
		} else if (r < 0 && WSAGetLastError() == WSAEWOULDBLOCK && wait_sock(s, 1, deadline_ms) == 0) {
			continue;
		} else {
			return -1;
		}
	}
	return 0;
}

long plat_recv(plat_sock ps, void *b, size_t n, int64_t deadline_ms) {
	SOCKET s = (SOCKET)ps;
	for (;;) {
		int r = recv(s, b, n > 1 << 30 ? 1 << 30 : (int)n, 0);
		if (r >= 0)
			return r;
		if (WSAGetLastError() != WSAEWOULDBLOCK)
			return PLAT_ERR;
		int w = wait_sock(s, 0, deadline_ms);
		if (w != 0)
			return w;
	}
}

void plat_close(plat_sock s) {
	closesocket((SOCKET)s);
	WSACleanup();
}
