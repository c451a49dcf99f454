/* eidlink's PKCS#11 module: the browsers' view of the cards that the
 * eidlink service sees.
 *
 * Every slot, token, object and attribute query is answered from a
 * snapshot of the service's state (wire.h); only signatures go to the
 * service, which asks the PIN in eidlink's own window. The token needs no
 * login (no CKF_LOGIN_REQUIRED, keys visible with CKA_PRIVATE false), so
 * that NSS never shows its own PIN dialog: see PROTOCOL.md, "PKCS#11
 * module <-> service", and /pkcs11/README.md.
 *
 * One lock guards all state; it is released while waiting for the
 * service, so a signature waiting for the PIN holds up no other call.
 * A forked child starts uninitialized and never touches the parent's
 * connections (there are none between calls: one connection per
 * exchange). */
#define _POSIX_C_SOURCE 200809L
#ifdef _WIN32
#define CRYPTOKI_EXPORTS
#else
#pragma GCC visibility push(default)
#endif
#define CRYPTOKI_COMPAT
#include "pkcs11.h"
#ifndef _WIN32
#pragma GCC visibility pop
#endif

#include <stdlib.h>
#include <string.h>

#include "platform.h"
#include "wire.h"
#include "ws.h"

#define LIB_MAJOR 0
#define LIB_MINOR 1

/* NSS's trust objects, looked up hundreds of times per page load: no
 * object of this module has that class, so the search ends at once. */
#define CKO_NSS_TRUST 0xCE534353UL

#define SNAPSHOT_TIMEOUT_MS 5000
#define SIGN_TIMEOUT_MS (180 * 1000) /* the service's PIN window times out first */
#define INFO_MAX_AGE_MS 1000         /* C_GetSlotInfo/C_GetTokenInfo refresh older snapshots */
#define MAX_SESSIONS 4096
#define MAX_SIGN_DATA 1024
#define MAX_KEY_ID 255
#define MAX_SERIAL 64

typedef struct {
	CK_SESSION_HANDLE handle;
	CK_SLOT_ID slot;
	CK_FLAGS flags;
	unsigned char serial[MAX_SERIAL]; /* the token it was opened on */
	size_t serial_len;

	int finding;
	uint32_t found; /* object indexes still to return */

	int signing, sign_busy;
	size_t key;
	CK_MECHANISM_TYPE mech;
	int pss;
	CK_RSA_PKCS_PSS_PARAMS pss_params;
} session;

static struct {
	int initialized;
	uint64_t epoch; /* changes with every C_Initialize, C_Finalize, fork */
	wire_response snap;
	int have_snap;
	int64_t snap_at;
	CK_SLOT_ID events[2 * WIRE_MAX_SLOTS];
	size_t nevents;
	session *sessions;
	size_t nsessions, cap;
	CK_SESSION_HANDLE next;
} st;

static void forget_state(void) {
	wire_free(&st.snap);
	free(st.sessions);
	uint64_t epoch = st.epoch;
	memset(&st, 0, sizeof st);
	st.epoch = epoch + 1;
}

/* ---- the snapshot ---- */

static wire_slot *find_slot(CK_SLOT_ID id) {
	for (size_t i = 0; i < st.snap.nslots; i++)
		if (st.snap.slots[i].id == id)
			return &st.snap.slots[i];
	return NULL;
}

static int same_serial(const wire_str *a, const unsigned char *b, size_t bn) {
	size_t n = a->n < MAX_SERIAL ? a->n : MAX_SERIAL;
	return a->n == bn && (n == 0 || memcmp(a->s, b, n) == 0);
}

static void add_event(CK_SLOT_ID id) {
	for (size_t i = 0; i < st.nevents; i++)
		if (st.events[i] == id)
			return;
	if (st.nevents < sizeof st.events / sizeof st.events[0])
		st.events[st.nevents++] = id;
}

/* changed adds an event for every slot of a whose card is not in b. */
static void changed(const wire_response *a, const wire_response *b) {
	for (size_t i = 0; i < a->nslots; i++) {
		const wire_slot *x = &a->slots[i];
		const wire_slot *y = NULL;
		for (size_t j = 0; j < b->nslots; j++)
			if (b->slots[j].id == x->id)
				y = &b->slots[j];
		if (x->present && (!y || !y->present || !same_serial(&y->token.serial, x->token.serial.s, x->token.serial.n)))
			add_event(x->id);
	}
}

/* bound is a wait's limit: def, or less for tests. */
static int64_t bound(int64_t def) {
	const char *e = plat_getenv("EIDLINK_PKCS11_TIMEOUT_MS");
	long v = e ? strtol(e, NULL, 10) : 0;
	return v > 0 && v < def ? v : def;
}

/* exchange sends a request to the service and reads the answer, within
 * timeout_ms; called without the lock. 0, or a WS_ result. */
static int exchange(const unsigned char *req, size_t n, int64_t timeout_ms, wire_response *res) {
	ws_conn *c = malloc(sizeof *c);
	if (!c || !n) {
		free(c);
		return WS_FAILED;
	}
	int64_t deadline = plat_now_ms() + timeout_ms;
	unsigned char *msg;
	size_t len;
	int rc = ws_open(c, "/pkcs11", deadline);
	if (rc == 0) {
		rc = ws_send(c, req, n, deadline);
		if (rc == 0)
			rc = ws_recv(c, &msg, &len, deadline);
		ws_close(c);
		if (rc == 0)
			rc = wire_parse(msg, len, res) == 0 ? 0 : WS_FAILED;
	}
	free(c);
	return rc;
}

/* refresh asks the service for its state unless the snapshot is younger
 * than max_age_ms (ANY_AGE: unless there is one), with the lock released
 * while it waits. Called and returning with the lock held; CKR_OK, or
 * CKR_CRYPTOKI_NOT_INITIALIZED when the module was finalized meanwhile.
 * A service that cannot be reached is an empty snapshot: no slots. */
#define ANY_AGE INT64_MAX

static CK_RV refresh(int64_t max_age_ms) {
	if (st.have_snap && (max_age_ms == ANY_AGE || plat_now_ms() - st.snap_at < max_age_ms))
		return CKR_OK;
	uint64_t epoch = st.epoch, gen = st.snap.generation;
	plat_unlock();
	unsigned char req[64];
	wire_response res;
	int rc = exchange(req, wire_snapshot_request(req, sizeof req, gen), bound(SNAPSHOT_TIMEOUT_MS), &res);
	plat_lock();
	if (!st.initialized || st.epoch != epoch) {
		if (rc == 0)
			wire_free(&res);
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	}
	int first = !st.have_snap; /* the cards present at start are no events */
	st.snap_at = plat_now_ms();
	st.have_snap = 1;
	if (rc == 0 && res.status == WIRE_UNCHANGED && res.generation == st.snap.generation && gen != 0) {
		wire_free(&res);
		return CKR_OK;
	}
	if (rc != 0 || res.status != WIRE_OK) {
		if (rc == 0)
			wire_free(&res);
		memset(&res, 0, sizeof res);
	}
	if (!first) {
		changed(&st.snap, &res);
		changed(&res, &st.snap);
	}
	wire_free(&st.snap);
	st.snap = res;
	return CKR_OK;
}

static session *find_session(CK_SESSION_HANDLE h) {
	for (size_t i = 0; i < st.nsessions; i++)
		if (st.sessions[i].handle == h)
			return &st.sessions[i];
	return NULL;
}

/* token_of returns the token a session was opened on, or NULL when that
 * card has left. */
static wire_token *token_of(const session *s) {
	wire_slot *sl = find_slot(s->slot);
	if (!sl || !sl->present || !same_serial(&sl->token.serial, s->serial, s->serial_len))
		return NULL;
	return &sl->token;
}

/* Object handles: the slot id's low 24 bits, then the object's index. */
static CK_OBJECT_HANDLE object_handle(CK_SLOT_ID slot, size_t i) { return ((slot & 0xFFFFFF) << 5) + i + 1; }

static wire_object *object_of(const session *s, wire_token *t, CK_OBJECT_HANDLE h, size_t *idx) {
	if (h == 0 || ((h - 1) >> 5) != (s->slot & 0xFFFFFF) || ((h - 1) & 31) >= t->nobjects)
		return NULL;
	*idx = (h - 1) & 31;
	return &t->objects[*idx];
}

static const wire_attr *find_attr(const wire_object *o, CK_ATTRIBUTE_TYPE type) {
	for (size_t i = 0; i < o->nattrs; i++)
		if (o->attrs[i].type == type)
			return &o->attrs[i];
	return NULL;
}

static const void *attr_value(const wire_attr *a) {
	return a->kind == WIRE_ULONG ? (const void *)&a->ul : a->kind == WIRE_BOOL ? (const void *)&a->b : (const void *)a->value;
}

static int attr_is(const wire_object *o, CK_ATTRIBUTE_TYPE type, CK_ULONG ul) {
	const wire_attr *a = find_attr(o, type);
	return a && ((a->kind == WIRE_ULONG && a->ul == ul) || (a->kind == WIRE_BOOL && a->b == (CK_BBOOL)ul));
}

/* pad copies s into a blank-padded field of n bytes, cut on a UTF-8
 * character boundary. */
static void pad(unsigned char *dst, size_t n, const unsigned char *s, size_t len) {
	if (len > n) {
		len = n;
		while (len > 0 && (s[len] & 0xC0) == 0x80)
			len--;
	}
	memset(dst, ' ', n);
	if (len)
		memcpy(dst, s, len);
}

static void pad_str(unsigned char *dst, size_t n, const char *s) { pad(dst, n, (const unsigned char *)s, strlen(s)); }

/* ---- general ---- */

#define LOCKED_INIT()                                                                                                  \
	plat_lock();                                                                                                   \
	if (!st.initialized) {                                                                                         \
		plat_unlock();                                                                                         \
		return CKR_CRYPTOKI_NOT_INITIALIZED;                                                                   \
	}

static CK_RV done(CK_RV rv) {
	plat_unlock();
	return rv;
}

static void child_reset(void) { forget_state(); }

CK_RV C_Initialize(CK_VOID_PTR pInitArgs) {
	plat_setup(child_reset);
	if (pInitArgs) {
		CK_C_INITIALIZE_ARGS *a = pInitArgs;
		int fns = (a->CreateMutex != NULL) + (a->DestroyMutex != NULL) + (a->LockMutex != NULL) + (a->UnlockMutex != NULL);
		if (a->pReserved || (fns != 0 && fns != 4))
			return CKR_ARGUMENTS_BAD;
		/* Only the OS's locks: an application that supplies its own
		 * and forbids the OS's gets CKR_CANT_LOCK. */
		if (fns == 4 && !(a->flags & CKF_OS_LOCKING_OK))
			return CKR_CANT_LOCK;
	}
	plat_lock();
	if (st.initialized)
		return done(CKR_CRYPTOKI_ALREADY_INITIALIZED);
	forget_state();
	st.initialized = 1;
	st.next = 1;
	return done(CKR_OK);
}

CK_RV C_Finalize(CK_VOID_PTR pReserved) {
	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	LOCKED_INIT();
	forget_state();
	return done(CKR_OK);
}

CK_RV C_GetInfo(CK_INFO_PTR info) {
	LOCKED_INIT();
	if (!info)
		return done(CKR_ARGUMENTS_BAD);
	memset(info, 0, sizeof *info);
	info->cryptokiVersion.major = 2;
	info->cryptokiVersion.minor = 40;
	pad_str(info->manufacturerID, sizeof info->manufacturerID, "eidlink");
	pad_str(info->libraryDescription, sizeof info->libraryDescription, "eidlink PKCS#11 module");
	info->libraryVersion.major = LIB_MAJOR;
	info->libraryVersion.minor = LIB_MINOR;
	return done(CKR_OK);
}

/* ---- slots and tokens ---- */

CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR list, CK_ULONG_PTR count) {
	LOCKED_INIT();
	if (!count)
		return done(CKR_ARGUMENTS_BAD);
	/* The count call refreshes; the fill call that follows it keeps
	 * the same list, unless the caller skipped the count. */
	CK_RV rv = refresh(list ? INFO_MAX_AGE_MS : 0);
	if (rv != CKR_OK)
		return done(rv);
	CK_ULONG n = 0;
	for (size_t i = 0; i < st.snap.nslots; i++)
		n += !tokenPresent || st.snap.slots[i].present;
	if (!list) {
		*count = n;
		return done(CKR_OK);
	}
	if (*count < n) {
		*count = n;
		return done(CKR_BUFFER_TOO_SMALL);
	}
	n = 0;
	for (size_t i = 0; i < st.snap.nslots; i++)
		if (!tokenPresent || st.snap.slots[i].present)
			list[n++] = st.snap.slots[i].id;
	*count = n;
	return done(CKR_OK);
}

CK_RV C_GetSlotInfo(CK_SLOT_ID id, CK_SLOT_INFO_PTR info) {
	LOCKED_INIT();
	if (!info)
		return done(CKR_ARGUMENTS_BAD);
	CK_RV rv = refresh(INFO_MAX_AGE_MS);
	if (rv != CKR_OK)
		return done(rv);
	wire_slot *sl = find_slot(id);
	if (!sl)
		return done(CKR_SLOT_ID_INVALID);
	memset(info, 0, sizeof *info);
	pad(info->slotDescription, sizeof info->slotDescription, sl->description.s, sl->description.n);
	pad_str(info->manufacturerID, sizeof info->manufacturerID, "eidlink");
	info->flags = CKF_REMOVABLE_DEVICE | CKF_HW_SLOT | (sl->present ? CKF_TOKEN_PRESENT : 0);
	info->hardwareVersion.major = LIB_MAJOR, info->hardwareVersion.minor = LIB_MINOR;
	info->firmwareVersion.major = LIB_MAJOR, info->firmwareVersion.minor = LIB_MINOR;
	return done(CKR_OK);
}

/* slot_token finds the token in a slot, refreshing an old snapshot. */
static CK_RV slot_token(CK_SLOT_ID id, int64_t max_age_ms, wire_token **t) {
	CK_RV rv = refresh(max_age_ms);
	if (rv != CKR_OK)
		return rv;
	wire_slot *sl = find_slot(id);
	if (!sl)
		return CKR_SLOT_ID_INVALID;
	if (!sl->present)
		return CKR_TOKEN_NOT_PRESENT;
	*t = &sl->token;
	return CKR_OK;
}

CK_RV C_GetTokenInfo(CK_SLOT_ID id, CK_TOKEN_INFO_PTR info) {
	LOCKED_INIT();
	if (!info)
		return done(CKR_ARGUMENTS_BAD);
	wire_token *t;
	CK_RV rv = slot_token(id, INFO_MAX_AGE_MS, &t);
	if (rv != CKR_OK)
		return done(rv);
	memset(info, 0, sizeof *info);
	pad(info->label, sizeof info->label, t->label.s, t->label.n);
	pad(info->manufacturerID, sizeof info->manufacturerID, t->manufacturer.s, t->manufacturer.n);
	pad(info->model, sizeof info->model, t->model.s, t->model.n);
	pad(info->serialNumber, sizeof info->serialNumber, t->serial.s, t->serial.n);
	/* No CKF_LOGIN_REQUIRED: NSS then never asks a PIN itself. */
	info->flags = CKF_TOKEN_INITIALIZED;
	info->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	info->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPublicMemory = info->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	info->ulTotalPrivateMemory = info->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	info->hardwareVersion.major = LIB_MAJOR, info->hardwareVersion.minor = LIB_MINOR;
	info->firmwareVersion.major = LIB_MAJOR, info->firmwareVersion.minor = LIB_MINOR;
	return done(CKR_OK);
}

CK_RV C_GetMechanismList(CK_SLOT_ID id, CK_MECHANISM_TYPE_PTR list, CK_ULONG_PTR count) {
	LOCKED_INIT();
	if (!count)
		return done(CKR_ARGUMENTS_BAD);
	wire_token *t;
	CK_RV rv = slot_token(id, ANY_AGE, &t);
	if (rv != CKR_OK)
		return done(rv);
	if (!list) {
		*count = t->nmechs;
		return done(CKR_OK);
	}
	if (*count < t->nmechs) {
		*count = t->nmechs;
		return done(CKR_BUFFER_TOO_SMALL);
	}
	for (size_t i = 0; i < t->nmechs; i++)
		list[i] = t->mechs[i].type;
	*count = t->nmechs;
	return done(CKR_OK);
}

static const wire_mech *find_mech(const wire_token *t, CK_MECHANISM_TYPE type) {
	for (size_t i = 0; i < t->nmechs; i++)
		if (t->mechs[i].type == type)
			return &t->mechs[i];
	return NULL;
}

CK_RV C_GetMechanismInfo(CK_SLOT_ID id, CK_MECHANISM_TYPE type, CK_MECHANISM_INFO_PTR info) {
	LOCKED_INIT();
	if (!info)
		return done(CKR_ARGUMENTS_BAD);
	wire_token *t;
	CK_RV rv = slot_token(id, ANY_AGE, &t);
	if (rv != CKR_OK)
		return done(rv);
	const wire_mech *m = find_mech(t, type);
	if (!m)
		return done(CKR_MECHANISM_INVALID);
	info->ulMinKeySize = m->min;
	info->ulMaxKeySize = m->max;
	info->flags = m->flags;
	return done(CKR_OK);
}

/* C_WaitForSlotEvent reports the slots whose card came or went since the
 * last call. Only with CKF_DONT_BLOCK: NSS polls a module that does not
 * block (CKR_FUNCTION_NOT_SUPPORTED), so no thread of the browser waits
 * inside this module. */
CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID_PTR slot, CK_VOID_PTR pReserved) {
	LOCKED_INIT();
	if (!slot || pReserved)
		return done(CKR_ARGUMENTS_BAD);
	if (!(flags & CKF_DONT_BLOCK))
		return done(CKR_FUNCTION_NOT_SUPPORTED);
	CK_RV rv = refresh(0);
	if (rv != CKR_OK)
		return done(rv);
	if (st.nevents == 0)
		return done(CKR_NO_EVENT);
	*slot = st.events[0];
	memmove(st.events, st.events + 1, (st.nevents - 1) * sizeof st.events[0]);
	st.nevents--;
	return done(CKR_OK);
}

/* ---- sessions ---- */

CK_RV C_OpenSession(CK_SLOT_ID id, CK_FLAGS flags, CK_VOID_PTR app, CK_NOTIFY notify, CK_SESSION_HANDLE_PTR ph) {
	(void)app, (void)notify;
	LOCKED_INIT();
	if (!ph)
		return done(CKR_ARGUMENTS_BAD);
	if (!(flags & CKF_SERIAL_SESSION))
		return done(CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	wire_token *t;
	CK_RV rv = slot_token(id, ANY_AGE, &t);
	if (rv != CKR_OK)
		return done(rv);
	if (st.nsessions == MAX_SESSIONS)
		return done(CKR_SESSION_COUNT);
	if (st.nsessions == st.cap) {
		size_t cap = st.cap ? 2 * st.cap : 8;
		session *grown = realloc(st.sessions, cap * sizeof *grown);
		if (!grown)
			return done(CKR_HOST_MEMORY);
		st.sessions = grown;
		st.cap = cap;
	}
	session *s = &st.sessions[st.nsessions++];
	memset(s, 0, sizeof *s);
	s->handle = st.next++;
	if (st.next == 0)
		st.next = 1;
	s->slot = id;
	s->flags = flags & (CKF_SERIAL_SESSION | CKF_RW_SESSION);
	s->serial_len = t->serial.n;
	if (t->serial.n)
		memcpy(s->serial, t->serial.s, t->serial.n < MAX_SERIAL ? t->serial.n : MAX_SERIAL);
	*ph = s->handle;
	return done(CKR_OK);
}

static void drop_session(session *s) {
	size_t i = (size_t)(s - st.sessions);
	st.sessions[i] = st.sessions[--st.nsessions];
}

CK_RV C_CloseSession(CK_SESSION_HANDLE h) {
	LOCKED_INIT();
	session *s = find_session(h);
	if (!s)
		return done(CKR_SESSION_HANDLE_INVALID);
	drop_session(s);
	return done(CKR_OK);
}

CK_RV C_CloseAllSessions(CK_SLOT_ID id) {
	LOCKED_INIT();
	int closed = 0;
	for (size_t i = 0; i < st.nsessions;)
		if (st.sessions[i].slot == id)
			drop_session(&st.sessions[i]), closed = 1;
		else
			i++;
	/* A slot that has gone with the service still had sessions. */
	return done(closed || find_slot(id) ? CKR_OK : CKR_SLOT_ID_INVALID);
}

/* LOCKED_SESSION locks, finds the session h as s and the token it was
 * opened on as t. */
#define LOCKED_SESSION(h, s, t)                                                                                        \
	LOCKED_INIT();                                                                                                 \
	session *s = find_session(h);                                                                                  \
	if (!s)                                                                                                        \
		return done(CKR_SESSION_HANDLE_INVALID);                                                               \
	wire_token *t = token_of(s);                                                                                   \
	if (!t)                                                                                                        \
		return done(CKR_DEVICE_REMOVED);

CK_RV C_GetSessionInfo(CK_SESSION_HANDLE h, CK_SESSION_INFO_PTR info) {
	LOCKED_SESSION(h, s, t);
	(void)t;
	if (!info)
		return done(CKR_ARGUMENTS_BAD);
	info->slotID = s->slot;
	/* The keys are usable without C_Login: the session is as if the
	 * user were logged in (see C_Login). */
	info->state = s->flags & CKF_RW_SESSION ? CKS_RW_USER_FUNCTIONS : CKS_RO_USER_FUNCTIONS;
	info->flags = s->flags;
	info->ulDeviceError = 0;
	return done(CKR_OK);
}

/* C_Login never takes a PIN: eidlink asks it in its own window when a
 * signature needs it, and a PIN given here is neither kept, copied nor
 * sent anywhere. (It is not zeroed either: the buffer is the caller's, and
 * may be read-only.) The token does not set CKF_LOGIN_REQUIRED, so NSS
 * never calls this; for other callers the user counts as logged in. */
CK_RV C_Login(CK_SESSION_HANDLE h, CK_USER_TYPE user, CK_UTF8CHAR_PTR pin, CK_ULONG len) {
	(void)pin, (void)len;
	LOCKED_SESSION(h, s, t);
	(void)s, (void)t;
	switch (user) {
	case CKU_USER:
		return done(CKR_USER_ALREADY_LOGGED_IN);
	case CKU_CONTEXT_SPECIFIC:
		return done(CKR_OK);
	case CKU_SO:
		return done(CKR_FUNCTION_NOT_SUPPORTED);
	}
	return done(CKR_USER_TYPE_INVALID);
}

CK_RV C_Logout(CK_SESSION_HANDLE h) {
	LOCKED_SESSION(h, s, t);
	(void)s, (void)t;
	return done(CKR_OK);
}

/* ---- objects ---- */

static int matches(const wire_object *o, const CK_ATTRIBUTE *tmpl, CK_ULONG n) {
	for (CK_ULONG i = 0; i < n; i++) {
		const wire_attr *a = find_attr(o, tmpl[i].type);
		if (!a || tmpl[i].ulValueLen != a->len || (a->len && (!tmpl[i].pValue || memcmp(tmpl[i].pValue, attr_value(a), a->len) != 0)))
			return 0;
	}
	return 1;
}

CK_RV C_FindObjectsInit(CK_SESSION_HANDLE h, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n) {
	LOCKED_SESSION(h, s, t);
	if (!tmpl && n)
		return done(CKR_ARGUMENTS_BAD);
	if (s->finding)
		return done(CKR_OPERATION_ACTIVE);
	s->finding = 1;
	s->found = 0;
	for (size_t i = 0; i < t->nobjects; i++)
		if (matches(&t->objects[i], tmpl, n))
			s->found |= 1u << i;
	return done(CKR_OK);
}

CK_RV C_FindObjects(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE_PTR out, CK_ULONG max, CK_ULONG_PTR count) {
	LOCKED_SESSION(h, s, t);
	(void)t;
	if (!s->finding)
		return done(CKR_OPERATION_NOT_INITIALIZED);
	if (!count || (!out && max))
		return done(CKR_ARGUMENTS_BAD);
	CK_ULONG n = 0;
	for (size_t i = 0; i < 32 && n < max; i++)
		if (s->found & (1u << i)) {
			out[n++] = object_handle(s->slot, i);
			s->found &= ~(1u << i);
		}
	*count = n;
	return done(CKR_OK);
}

CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE h) {
	LOCKED_INIT();
	session *s = find_session(h);
	if (!s)
		return done(CKR_SESSION_HANDLE_INVALID);
	if (!s->finding)
		return done(CKR_OPERATION_NOT_INITIALIZED);
	s->finding = 0;
	return done(CKR_OK);
}

CK_RV C_GetAttributeValue(CK_SESSION_HANDLE h, CK_OBJECT_HANDLE oh, CK_ATTRIBUTE_PTR tmpl, CK_ULONG n) {
	LOCKED_SESSION(h, s, t);
	if (!tmpl && n)
		return done(CKR_ARGUMENTS_BAD);
	size_t idx;
	wire_object *o = object_of(s, t, oh, &idx);
	if (!o)
		return done(CKR_OBJECT_HANDLE_INVALID);
	CK_RV rv = CKR_OK;
	for (CK_ULONG i = 0; i < n; i++) {
		const wire_attr *a = find_attr(o, tmpl[i].type);
		if (!a) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_ATTRIBUTE_TYPE_INVALID;
		} else if (!tmpl[i].pValue) {
			tmpl[i].ulValueLen = a->len;
		} else if (tmpl[i].ulValueLen < a->len) {
			tmpl[i].ulValueLen = CK_UNAVAILABLE_INFORMATION;
			if (rv == CKR_OK)
				rv = CKR_BUFFER_TOO_SMALL;
		} else {
			if (a->len)
				memcpy(tmpl[i].pValue, attr_value(a), a->len);
			tmpl[i].ulValueLen = a->len;
		}
	}
	return done(rv);
}

/* ---- signing ---- */

CK_RV C_SignInit(CK_SESSION_HANDLE h, CK_MECHANISM_PTR mech, CK_OBJECT_HANDLE key) {
	LOCKED_SESSION(h, s, t);
	if (!mech)
		return done(CKR_ARGUMENTS_BAD);
	if (s->signing)
		return done(CKR_OPERATION_ACTIVE);
	size_t idx;
	wire_object *o = object_of(s, t, key, &idx);
	if (!o)
		return done(CKR_KEY_HANDLE_INVALID);
	const wire_attr *id = find_attr(o, CKA_ID);
	if (!attr_is(o, CKA_CLASS, CKO_PRIVATE_KEY) || !attr_is(o, CKA_SIGN, CK_TRUE) || !id || id->kind != WIRE_BYTES ||
	    id->len > MAX_KEY_ID || o->siglen == 0)
		return done(CKR_KEY_FUNCTION_NOT_PERMITTED);
	if (!find_mech(t, mech->mechanism))
		return done(CKR_MECHANISM_INVALID);
	s->pss = 0;
	if (mech->mechanism == CKM_RSA_PKCS_PSS) {
		if (!mech->pParameter || mech->ulParameterLen != sizeof(CK_RSA_PKCS_PSS_PARAMS))
			return done(CKR_MECHANISM_PARAM_INVALID);
		memcpy(&s->pss_params, mech->pParameter, sizeof s->pss_params);
		s->pss = 1;
	} else if (mech->pParameter || mech->ulParameterLen) {
		return done(CKR_MECHANISM_PARAM_INVALID);
	}
	s->signing = 1;
	s->key = idx;
	s->mech = mech->mechanism;
	return done(CKR_OK);
}

static CK_RV status_rv(uint64_t status) {
	switch (status) {
	case WIRE_CANCELLED:
	case WIRE_NOT_AVAILABLE:
		return CKR_FUNCTION_CANCELED;
	case WIRE_TOKEN_REMOVED:
		return CKR_DEVICE_REMOVED;
	case WIRE_NO_TOKEN:
		return CKR_TOKEN_NOT_PRESENT;
	case WIRE_KEY_NOT_FOUND:
		return CKR_KEY_HANDLE_INVALID;
	case WIRE_DATA_INVALID:
		return CKR_DATA_LEN_RANGE;
	case WIRE_MECHANISM:
		return CKR_MECHANISM_INVALID;
	case WIRE_PIN_LOCKED:
		return CKR_PIN_LOCKED;
	}
	return CKR_DEVICE_ERROR;
}

CK_RV C_Sign(CK_SESSION_HANDLE h, CK_BYTE_PTR data, CK_ULONG len, CK_BYTE_PTR sig, CK_ULONG_PTR siglen) {
	LOCKED_INIT();
	session *s = find_session(h);
	if (!s)
		return done(CKR_SESSION_HANDLE_INVALID);
	if (!s->signing)
		return done(CKR_OPERATION_NOT_INITIALIZED);
	if (s->sign_busy)
		return done(CKR_OPERATION_ACTIVE);
	wire_token *t = token_of(s);
	CK_RV rv = !siglen || (!data && len) ? CKR_ARGUMENTS_BAD : !t ? CKR_DEVICE_REMOVED : CKR_OK;
	if (rv != CKR_OK) {
		s->signing = 0;
		return done(rv);
	}
	const wire_object *key = s->key < t->nobjects ? &t->objects[s->key] : NULL;
	const wire_attr *id = key ? find_attr(key, CKA_ID) : NULL;
	if (!id || id->kind != WIRE_BYTES || id->len > MAX_KEY_ID || key->siglen == 0) {
		s->signing = 0; /* the service changed the card's objects */
		return done(CKR_KEY_HANDLE_INVALID);
	}
	if (!sig) {
		*siglen = key->siglen;
		return done(CKR_OK);
	}
	if (*siglen < key->siglen) {
		*siglen = key->siglen;
		return done(CKR_BUFFER_TOO_SMALL);
	}
	if (len > MAX_SIGN_DATA || (s->mech == CKM_RSA_PKCS && (key->siglen < 11 || len > key->siglen - 11))) {
		s->signing = 0;
		return done(CKR_DATA_LEN_RANGE);
	}
	wire_sign w = {
		.slot = s->slot, .serial = s->serial, .serial_len = s->serial_len < MAX_SERIAL ? s->serial_len : MAX_SERIAL,
		.key_id = id->value, .key_id_len = id->len, .mechanism = s->mech, .pss = s->pss, .pss_params = s->pss_params,
		.data = data, .data_len = len,
	};
	unsigned char req[MAX_SIGN_DATA + MAX_KEY_ID + MAX_SERIAL + 256];
	size_t n = wire_sign_request(req, sizeof req, &w);
	uint64_t epoch = st.epoch;
	s->sign_busy = 1;
	plat_unlock();

	wire_response res;
	int rc = exchange(req, n, bound(SIGN_TIMEOUT_MS), &res);

	plat_lock();
	/* The session may have been closed, the module finalized, meanwhile. */
	s = st.initialized && st.epoch == epoch ? find_session(h) : NULL;
	if (!st.initialized || st.epoch != epoch)
		rv = CKR_CRYPTOKI_NOT_INITIALIZED;
	else if (!s)
		rv = CKR_SESSION_CLOSED;
	else if (rc == WS_UNREACHABLE)
		rv = CKR_DEVICE_REMOVED; /* no service: no token */
	else if (rc == WS_TIMEOUT)
		rv = CKR_FUNCTION_CANCELED;
	else if (rc != 0)
		rv = CKR_DEVICE_ERROR;
	else if (res.status != WIRE_OK)
		rv = status_rv(res.status);
	else if (res.signature.n == 0 || res.signature.n > *siglen)
		rv = CKR_DEVICE_ERROR;
	else {
		memcpy(sig, res.signature.s, res.signature.n);
		*siglen = (CK_ULONG)res.signature.n;
		rv = CKR_OK;
	}
	if (s)
		s->signing = s->sign_busy = 0;
	if (rc == 0)
		wire_free(&res);
	return done(rv);
}

/* ---- what this module does not do ---- */

#define NOT_SUPPORTED(name, params)                                                                                    \
	CK_RV name params { return CKR_FUNCTION_NOT_SUPPORTED; }

NOT_SUPPORTED(C_InitToken, (CK_SLOT_ID a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d))
NOT_SUPPORTED(C_InitPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_SetPIN, (CK_SESSION_HANDLE a, CK_UTF8CHAR_PTR b, CK_ULONG c, CK_UTF8CHAR_PTR d, CK_ULONG e))
NOT_SUPPORTED(C_GetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_SetOperationState, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE d, CK_OBJECT_HANDLE e))
NOT_SUPPORTED(C_CreateObject, (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d))
NOT_SUPPORTED(C_CopyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
NOT_SUPPORTED(C_DestroyObject, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
NOT_SUPPORTED(C_GetObjectSize, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_SetAttributeValue, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d))
NOT_SUPPORTED(C_EncryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(C_Encrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_EncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_EncryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_DecryptInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(C_Decrypt, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DecryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DecryptFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_DigestInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b))
NOT_SUPPORTED(C_Digest, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_DigestKey, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b))
NOT_SUPPORTED(C_DigestFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_SignUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_SignFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG_PTR c))
NOT_SUPPORTED(C_SignRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(C_SignRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_VerifyInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(C_Verify, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e))
NOT_SUPPORTED(C_VerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_VerifyFinal, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_VerifyRecoverInit, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c))
NOT_SUPPORTED(C_VerifyRecover, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DigestEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DecryptDigestUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_SignEncryptUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_DecryptVerifyUpdate, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e))
NOT_SUPPORTED(C_GenerateKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e))
NOT_SUPPORTED(C_GenerateKeyPair, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e,
				  CK_ULONG f, CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR i))
NOT_SUPPORTED(C_WrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e, CK_ULONG_PTR f))
NOT_SUPPORTED(C_UnwrapKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e, CK_ATTRIBUTE_PTR f,
			    CK_ULONG g, CK_OBJECT_HANDLE_PTR i))
NOT_SUPPORTED(C_DeriveKey, (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e, CK_OBJECT_HANDLE_PTR f))
NOT_SUPPORTED(C_SeedRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))
NOT_SUPPORTED(C_GenerateRandom, (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c))

/* Legacy functions: their answer is fixed by the standard. */
CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE h) {
	(void)h;
	return CKR_FUNCTION_NOT_PARALLEL;
}
CK_RV C_CancelFunction(CK_SESSION_HANDLE h) {
	(void)h;
	return CKR_FUNCTION_NOT_PARALLEL;
}

static CK_FUNCTION_LIST functions = {
	{2, 40},
	C_Initialize, C_Finalize, C_GetInfo, C_GetFunctionList, C_GetSlotList, C_GetSlotInfo, C_GetTokenInfo,
	C_GetMechanismList, C_GetMechanismInfo, C_InitToken, C_InitPIN, C_SetPIN, C_OpenSession, C_CloseSession,
	C_CloseAllSessions, C_GetSessionInfo, C_GetOperationState, C_SetOperationState, C_Login, C_Logout,
	C_CreateObject, C_CopyObject, C_DestroyObject, C_GetObjectSize, C_GetAttributeValue, C_SetAttributeValue,
	C_FindObjectsInit, C_FindObjects, C_FindObjectsFinal, C_EncryptInit, C_Encrypt, C_EncryptUpdate,
	C_EncryptFinal, C_DecryptInit, C_Decrypt, C_DecryptUpdate, C_DecryptFinal, C_DigestInit, C_Digest,
	C_DigestUpdate, C_DigestKey, C_DigestFinal, C_SignInit, C_Sign, C_SignUpdate, C_SignFinal,
	C_SignRecoverInit, C_SignRecover, C_VerifyInit, C_Verify, C_VerifyUpdate, C_VerifyFinal,
	C_VerifyRecoverInit, C_VerifyRecover, C_DigestEncryptUpdate, C_DecryptDigestUpdate, C_SignEncryptUpdate,
	C_DecryptVerifyUpdate, C_GenerateKey, C_GenerateKeyPair, C_WrapKey, C_UnwrapKey, C_DeriveKey, C_SeedRandom,
	C_GenerateRandom, C_GetFunctionStatus, C_CancelFunction, C_WaitForSlotEvent,
};

CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR list) {
	if (!list)
		return CKR_ARGUMENTS_BAD;
	*list = &functions;
	return CKR_OK;
}
