/* eidlink PKCS#11 module: the client side of a WebSocket (RFC 6455) to the
 * eidlink service, just what the module needs: the upgrade with the secret,
 * binary messages out (masked), binary messages in (fragments joined, pings
 * answered), a size bound and a deadline on everything. */
#ifndef EIDLINK_WS_H
#define EIDLINK_WS_H

#include "platform.h"

#define WS_MAX_MESSAGE (256 * 1024)

typedef struct {
	plat_sock sock;
	unsigned char buf[4096]; /* bytes read, not yet used */
	size_t start, end;
} ws_conn;

/* Results besides 0. */
#define WS_UNREACHABLE (-1) /* no service, or not ours: nothing was sent */
#define WS_FAILED (-2)      /* the service refused or broke the protocol, or went away */
#define WS_TIMEOUT (-3)

/* ws_open connects to the service and upgrades on path. */
int ws_open(ws_conn *c, const char *path, int64_t deadline_ms);

/* ws_send sends one binary message. */
int ws_send(ws_conn *c, const unsigned char *msg, size_t n, int64_t deadline_ms);

/* ws_recv reads one binary message into a malloc'ed buffer the caller
 * frees. */
int ws_recv(ws_conn *c, unsigned char **msg, size_t *n, int64_t deadline_ms);

void ws_close(ws_conn *c);

/* Exposed for tests of the handshake. */
void ws_sha1(const unsigned char *data, size_t n, unsigned char out[20]);
size_t ws_base64(const unsigned char *in, size_t n, char *out);

#endif
