/* eidlink PKCS#11 module: the messages to and from the service
 * (internal/p11wire in Go, PROTOCOL.md "PKCS#11 module <-> service"). */
#ifndef EIDLINK_WIRE_H
#define EIDLINK_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "pkcs11.h"

#define WIRE_VERSION 1
#define WIRE_OP_SNAPSHOT 1
#define WIRE_OP_SIGN 2

/* Statuses (p11wire.Status). */
enum {
	WIRE_OK = 0,
	WIRE_UNCHANGED = 1,
	WIRE_CANCELLED = 2,
	WIRE_TOKEN_REMOVED = 3,
	WIRE_NO_TOKEN = 4,
	WIRE_KEY_NOT_FOUND = 5,
	WIRE_DATA_INVALID = 6,
	WIRE_MECHANISM = 7,
	WIRE_PIN_LOCKED = 8,
	WIRE_DEVICE_ERROR = 9,
	WIRE_VERSION_MISMATCH = 10,
	WIRE_BAD_REQUEST = 11,
	WIRE_NOT_AVAILABLE = 12,
};

/* Limits (p11wire.MaxSlots, ...). */
#define WIRE_MAX_SLOTS 32
#define WIRE_MAX_MECHS 8
#define WIRE_MAX_OBJECTS 16
#define WIRE_MAX_ATTRS 40

enum { WIRE_BYTES, WIRE_ULONG, WIRE_BOOL };

typedef struct {
	CK_ATTRIBUTE_TYPE type;
	int kind;                   /* WIRE_BYTES, WIRE_ULONG, WIRE_BOOL */
	const unsigned char *value; /* WIRE_BYTES: into the message */
	CK_ULONG len;
	CK_ULONG ul;
	CK_BBOOL b;
	int value_fields; /* while parsing */
} wire_attr;

typedef struct {
	wire_attr attrs[WIRE_MAX_ATTRS];
	size_t nattrs;
	CK_ULONG siglen;
} wire_object;

typedef struct {
	const unsigned char *s;
	size_t n;
} wire_str;

typedef struct {
	CK_MECHANISM_TYPE type;
	CK_ULONG min, max, flags;
} wire_mech;

typedef struct {
	wire_str label, manufacturer, model, serial;
	wire_mech mechs[WIRE_MAX_MECHS];
	size_t nmechs;
	wire_object *objects; /* nobjects of them */
	size_t nobjects;
} wire_token;

typedef struct {
	CK_SLOT_ID id;
	wire_str description;
	int present;
	wire_token token;
} wire_slot;

/* A response, decoded. A snapshot points into msg, which it owns. */
typedef struct {
	unsigned char *msg;
	uint64_t status;
	uint64_t generation;
	wire_str signature;
	wire_slot *slots; /* nslots of them */
	size_t nslots;
} wire_response;

/* wire_parse decodes msg (n bytes), taking ownership of it (also on
 * failure); 0, or -1 for a malformed message. */
int wire_parse(unsigned char *msg, size_t n, wire_response *r);
void wire_free(wire_response *r);

/* The sign request's fields. */
typedef struct {
	CK_SLOT_ID slot;
	const unsigned char *serial;
	size_t serial_len;
	const unsigned char *key_id;
	size_t key_id_len;
	CK_MECHANISM_TYPE mechanism;
	int pss;
	CK_RSA_PKCS_PSS_PARAMS pss_params;
	const unsigned char *data;
	size_t data_len;
} wire_sign;

/* The encoders write into buf (cap bytes) and return the length, or 0
 * when it does not fit. */
size_t wire_snapshot_request(unsigned char *buf, size_t cap, uint64_t generation);
size_t wire_sign_request(unsigned char *buf, size_t cap, const wire_sign *s);

#endif
