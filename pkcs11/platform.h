/* eidlink PKCS#11 module: what differs between operating systems. One
 * implementation per platform: platform_unix.c (Linux, macOS) and
 * platform_windows.c. */
#ifndef EIDLINK_PLATFORM_H
#define EIDLINK_PLATFORM_H

#include <stddef.h>
#include <stdint.h>

#ifdef _WIN32
typedef uintptr_t plat_sock;
#else
typedef int plat_sock;
#endif

/* Results of plat_recv besides a byte count. */
#define PLAT_EOF 0
#define PLAT_ERR (-1)
#define PLAT_TIMEOUT (-2)

/* plat_setup runs once per process before the lock is used: on Unix it
 * registers fork handlers so that a child never inherits a held lock and
 * calls child_reset (under no lock) to forget the parent's state. */
void plat_setup(void (*child_reset)(void));
void plat_lock(void);
void plat_unlock(void);

/* Milliseconds of a monotonic clock. */
int64_t plat_now_ms(void);

/* Fills b with n random bytes; 0 or -1. */
int plat_random(void *b, size_t n);

/* Reads the service's per-install secret (64 hex digits and a NUL) into
 * hex, refusing a file other users can read; 0 or -1. */
int plat_read_secret(char hex[65]);

/* Connects to the user's eidlink service and checks that it runs as this
 * user (before anything, the secret above all, is sent); 0 or -1. */
int plat_connect(plat_sock *s, int64_t deadline_ms);

/* Sends all of b before the deadline; 0 or -1. */
int plat_send(plat_sock s, const void *b, size_t n, int64_t deadline_ms);

/* Receives up to n bytes: a count > 0, PLAT_EOF, PLAT_ERR or PLAT_TIMEOUT. */
long plat_recv(plat_sock s, void *b, size_t n, int64_t deadline_ms);

void plat_close(plat_sock s);

/* Zeroes a buffer in a way the compiler keeps. */
void plat_wipe(void *b, size_t n);

/* The value of an environment variable, or NULL. */
const char *plat_getenv(const char *name);

#endif
