/* eidlink PKCS#11 module: WebSocket client. */
#include "ws.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* SHA-1 (FIPS 180-4), only for Sec-WebSocket-Accept. */
static uint32_t rol(uint32_t x, int n) { return (x << n) | (x >> (32 - n)); }

static void sha1_block(uint32_t h[5], const unsigned char *p) {
	uint32_t w[80];
	for (int i = 0; i < 16; i++)
		w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
	for (int i = 16; i < 80; i++)
		w[i] = rol(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
	uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4];
	for (int i = 0; i < 80; i++) {
		uint32_t f, k;
		if (i < 20)
			f = (b & c) | (~b & d), k = 0x5A827999;
		else if (i < 40)
			f = b ^ c ^ d, k = 0x6ED9EBA1;
		else if (i < 60)
			f = (b & c) | (b & d) | (c & d), k = 0x8F1BBCDC;
		else
			f = b ^ c ^ d, k = 0xCA62C1D6;
		uint32_t t = rol(a, 5) + f + e + k + w[i];
		e = d, d = c, c = rol(b, 30), b = a, a = t;
	}
	h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e;
}

void ws_sha1(const unsigned char *data, size_t n, unsigned char out[20]) {
	uint32_t h[5] = {0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0};
	size_t i = 0;
	for (; n - i >= 64; i += 64)
		sha1_block(h, data + i);
	unsigned char last[128] = {0};
	size_t rest = n - i;
	memcpy(last, data + i, rest);
	last[rest] = 0x80;
	size_t blocks = rest + 9 > 64 ? 2 : 1;
	uint64_t bits = (uint64_t)n * 8;
	for (int j = 0; j < 8; j++)
		last[blocks * 64 - 1 - j] = (unsigned char)(bits >> (8 * j));
	for (size_t j = 0; j < blocks; j++)
		sha1_block(h, last + 64 * j);
	for (int j = 0; j < 5; j++)
		out[4 * j] = (unsigned char)(h[j] >> 24), out[4 * j + 1] = (unsigned char)(h[j] >> 16),
		out[4 * j + 2] = (unsigned char)(h[j] >> 8), out[4 * j + 3] = (unsigned char)h[j];
}

size_t ws_base64(const unsigned char *in, size_t n, char *out) {
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
		out[o++] = tab[v >> 18 & 63];
		out[o++] = tab[v >> 12 & 63];
		out[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	out[o] = 0;
	return o;
}

static int lower(int c) { return c >= 'A' && c <= 'Z' ? c + 32 : c; }

/* header_is reports whether line (length n) is the header name with
 * value, the name compared without case, the value exactly, spaces
 * around it ignored. */
static int header_is(const char *line, size_t n, const char *name, const char *value) {
	size_t nl = strlen(name), vl = strlen(value);
	if (n <= nl || line[nl] != ':')
		return 0;
	for (size_t i = 0; i < nl; i++)
		if (lower((unsigned char)line[i]) != lower((unsigned char)name[i]))
			return 0;
	size_t b = nl + 1, e = n;
	while (b < e && (line[b] == ' ' || line[b] == '\t'))
		b++;
	while (e > b && (line[e - 1] == ' ' || line[e - 1] == '\t'))
		e--;
	return e - b == vl && memcmp(line + b, value, vl) == 0;
}

static int fill(ws_conn *c, int64_t deadline_ms) {
	if (c->start > 0) {
		memmove(c->buf, c->buf + c->start, c->end - c->start);
		c->end -= c->start;
		c->start = 0;
	}
	if (c->end == sizeof c->buf)
		return WS_FAILED;
	long r = plat_recv(c->sock, c->buf + c->end, sizeof c->buf - c->end, deadline_ms);
	if (r == PLAT_TIMEOUT)
		return WS_TIMEOUT;
	if (r <= 0)
		return WS_FAILED;
	c->end += (size_t)r;
	return 0;
}

int ws_open(ws_conn *c, const char *path, int64_t deadline_ms) {
	memset(c, 0, sizeof *c);
	char secret[65];
	if (plat_read_secret(secret) != 0)
		return WS_UNREACHABLE;
	if (plat_connect(&c->sock, deadline_ms) != 0) {
		plat_wipe(secret, sizeof secret);
		return WS_UNREACHABLE;
	}
	unsigned char nonce[16];
	char key[25], req[512];
	if (plat_random(nonce, sizeof nonce) != 0) {
		plat_wipe(secret, sizeof secret);
		plat_close(c->sock);
		return WS_FAILED;
	}
	ws_base64(nonce, sizeof nonce, key);
	int n = snprintf(req, sizeof req,
			 "GET %s HTTP/1.1\r\nHost: eidlink\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\nEidlink-Secret: %s\r\n\r\n",
			 path, key, secret);
	plat_wipe(secret, sizeof secret);
	int rc = n > 0 && (size_t)n < sizeof req ? plat_send(c->sock, req, (size_t)n, deadline_ms) : -1;
	plat_wipe(req, sizeof req);
	if (rc != 0) {
		plat_close(c->sock);
		return WS_FAILED;
	}

	/* The expected accept value. */
	char acc_in[64];
	unsigned char digest[20];
	char accept[29];
	snprintf(acc_in, sizeof acc_in, "%s258EAFA5-E914-47DA-95CA-C5AB0DC85B11", key);
	ws_sha1((const unsigned char *)acc_in, strlen(acc_in), digest);
	ws_base64(digest, sizeof digest, accept);

	/* Read the response head, at most the buffer. */
	size_t head = 0;
	while (!head) {
		for (size_t i = 3; i < c->end; i++)
			if (memcmp(c->buf + i - 3, "\r\n\r\n", 4) == 0) {
				head = i + 1;
				break;
			}
		if (!head && (rc = fill(c, deadline_ms)) != 0) {
			plat_close(c->sock);
			return rc;
		}
	}
	const char *h = (const char *)c->buf;
	int ok = head > 12 && (memcmp(h, "HTTP/1.1 101", 12) == 0) && (h[12] == ' ' || h[12] == '\r');
	int upgrade = 0, accepted = 0;
	for (size_t i = 0; ok && i < head;) {
		const char *eol = memchr(h + i, '\r', head - i);
		size_t len = (size_t)(eol - (h + i));
		upgrade |= header_is(h + i, len, "Upgrade", "websocket");
		accepted |= header_is(h + i, len, "Sec-WebSocket-Accept", accept);
		i += len + 2;
	}
	if (!ok || !upgrade || !accepted) {
		plat_close(c->sock);
		return WS_FAILED;
	}
	c->start = head;
	return 0;
}

static int write_frame(ws_conn *c, int opcode, const unsigned char *p, size_t n, int64_t deadline_ms) {
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (n < 126) {
		hdr[h++] = (unsigned char)(0x80 | n);
	} else if (n <= 0xFFFF) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(n >> 8);
		hdr[h++] = (unsigned char)n;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)n >> (8 * i));
	}
	unsigned char mask[4];
	if (plat_random(mask, 4) != 0)
		return WS_FAILED;
	memcpy(hdr + h, mask, 4);
	h += 4;
	unsigned char *frame = malloc(h + n);
	if (!frame)
		return WS_FAILED;
	memcpy(frame, hdr, h);
	for (size_t i = 0; i < n; i++)
		frame[h + i] = p[i] ^ mask[i & 3];
	int rc = plat_send(c->sock, frame, h + n, deadline_ms);
	plat_wipe(frame, h + n);
	free(frame);
	return rc == 0 ? 0 : WS_FAILED;
}

int ws_send(ws_conn *c, const unsigned char *msg, size_t n, int64_t deadline_ms) {
	if (n > WS_MAX_MESSAGE)
		return WS_FAILED;
	return write_frame(c, 2, msg, n, deadline_ms);
}

/* need makes at least n bytes available at c->buf + c->start. */
static int need(ws_conn *c, size_t n, int64_t deadline_ms) {
	while (c->end - c->start < n) {
		int rc = fill(c, deadline_ms);
		if (rc != 0)
			return rc;
	}
	return 0;
}

int ws_recv(ws_conn *c, unsigned char **out, size_t *outn, int64_t deadline_ms) {
	unsigned char *msg = NULL;
	size_t len = 0;
	int started = 0, rc;
	*out = NULL;
	*outn = 0;
	for (;;) {
		if ((rc = need(c, 2, deadline_ms)) != 0)
			goto fail;
		unsigned char b0 = c->buf[c->start], b1 = c->buf[c->start + 1];
		int fin = b0 & 0x80, opcode = b0 & 0x0F;
		size_t hl = 2;
		uint64_t pl = b1 & 0x7F;
		rc = WS_FAILED;
		if ((b0 & 0x70) || (b1 & 0x80)) /* reserved bits, or a masked frame from the server */
			goto fail;
		if (pl == 126)
			hl += 2;
		else if (pl == 127)
			hl += 8;
		if ((rc = need(c, hl, deadline_ms)) != 0)
			goto fail;
		const unsigned char *p = c->buf + c->start;
		if (pl == 126)
			pl = (uint64_t)p[2] << 8 | p[3];
		else if (pl == 127) {
			pl = 0;
			for (int i = 0; i < 8; i++)
				pl = pl << 8 | p[2 + i];
		}
		rc = WS_FAILED;
		if (opcode >= 8) { /* control: close, ping, pong */
			if (!fin || pl > 125)
				goto fail;
			if ((rc = need(c, hl + (size_t)pl, deadline_ms)) != 0)
				goto fail;
			unsigned char payload[125];
			memcpy(payload, c->buf + c->start + hl, (size_t)pl);
			c->start += hl + (size_t)pl;
			rc = WS_FAILED;
			if (opcode == 8)
				goto fail;
			if (opcode == 9 && write_frame(c, 10, payload, (size_t)pl, deadline_ms) != 0)
				goto fail;
			if (opcode != 9 && opcode != 10)
				goto fail;
			continue;
		}
		if ((opcode == 0) != started || (opcode != 0 && opcode != 2))
			goto fail; /* text, unknown, or a continuation out of place */
		if (pl > WS_MAX_MESSAGE - len)
			goto fail;
		unsigned char *grown = realloc(msg, len + (size_t)pl + 1);
		if (!grown)
			goto fail;
		msg = grown;
		c->start += hl;
		for (size_t got = 0; got < pl;) {
			if (c->start == c->end && (rc = fill(c, deadline_ms)) != 0)
				goto fail;
			size_t take = c->end - c->start;
			if (take > pl - got)
				take = (size_t)(pl - got);
			memcpy(msg + len, c->buf + c->start, take);
			len += take;
			got += take;
			c->start += take;
		}
		started = 1;
		if (fin) {
			*out = msg;
			*outn = len;
			return 0;
		}
	}
fail:
	free(msg);
	return rc;
}

void ws_close(ws_conn *c) {
	plat_close(c->sock);
	plat_wipe(c->buf, sizeof c->buf);
}
