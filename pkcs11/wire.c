/* eidlink PKCS#11 module: the wire format. Every length is checked before
 * use; a message that breaks a rule is refused whole. */
#include "wire.h"

#include <stdlib.h>
#include <string.h>

enum {
	T_VERSION = 0x01, T_OP = 0x02, T_GENERATION = 0x03, T_STATUS = 0x04, T_MESSAGE = 0x05,
	T_SIGN_SLOT = 0x10, T_SIGN_SERIAL = 0x11, T_SIGN_KEY_ID = 0x12, T_SIGN_MECH = 0x13,
	T_SIGN_PSS_HASH = 0x14, T_SIGN_PSS_MGF = 0x15, T_SIGN_PSS_SALT = 0x16, T_SIGN_DATA = 0x17,
	T_SIGNATURE = 0x18,
	T_SLOT = 0x20, T_SLOT_ID = 0x21, T_SLOT_DESC = 0x22, T_TOKEN = 0x23,
	T_TOKEN_LABEL = 0x24, T_TOKEN_MANUF = 0x25, T_TOKEN_MODEL = 0x26, T_TOKEN_SERIAL = 0x27,
	T_MECH = 0x28, T_MECH_TYPE = 0x29, T_MECH_MIN = 0x2A, T_MECH_MAX = 0x2B, T_MECH_FLAGS = 0x2C,
	T_OBJECT = 0x30, T_ATTR = 0x31, T_ATTR_TYPE = 0x32, T_ATTR_BYTES = 0x33, T_ATTR_ULONG = 0x34,
	T_ATTR_BOOL = 0x35, T_OBJ_SIGNLEN = 0x36,
};

/* each walks the sequence p (n bytes), calling field(ctx, tag, value,
 * length) for each field, and refuses a tag of single (all tags are < 64)
 * given twice or a tag of required missing: 0, or -1 at the first
 * malformed field or the first field the callback refuses. */
typedef int (*field_fn)(void *ctx, unsigned tag, const unsigned char *v, size_t len);

static int each(const unsigned char *p, size_t n, uint64_t single, uint64_t required, field_fn field, void *ctx) {
	uint64_t seen = 0;
	while (n > 0) {
		if (n < 6)
			return -1;
		uint32_t l = (uint32_t)p[2] << 24 | (uint32_t)p[3] << 16 | (uint32_t)p[4] << 8 | p[5];
		if (l > n - 6)
			return -1;
		unsigned tag = (unsigned)p[0] << 8 | p[1];
		uint64_t bit = tag < 64 ? 1ULL << tag : 0;
		if (bit & single & seen)
			return -1;
		seen |= bit;
		if (field(ctx, tag, p + 6, l) != 0)
			return -1;
		p += 6 + l;
		n -= 6 + l;
	}
	return (seen & required) == required ? 0 : -1;
}

#define BIT(t) (1ULL << (t))

static int u64(const unsigned char *v, size_t len, uint64_t *out) {
	if (len != 8)
		return -1;
	uint64_t x = 0;
	for (int i = 0; i < 8; i++)
		x = x << 8 | v[i];
	*out = x;
	return 0;
}

/* ulong reads an integer that must fit a CK_ULONG (32 bits on Windows). */
static int ulong(const unsigned char *v, size_t len, CK_ULONG *out) {
	uint64_t x;
	if (u64(v, len, &x) != 0 || x > (CK_ULONG)-1)
		return -1;
	*out = (CK_ULONG)x;
	return 0;
}

static int count_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	(void)v, (void)len;
	size_t *c = ctx;
	c[0] += tag == c[1];
	return 0;
}

/* count counts the fields with tag in a sequence; -1 if malformed. */
static long count(const unsigned char *p, size_t n, unsigned tag) {
	size_t c[2] = {0, tag};
	return each(p, n, 0, 0, count_field, c) == 0 ? (long)c[0] : -1;
}

static int attr_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	wire_attr *a = ctx;
	uint64_t b;
	switch (tag) {
	case T_ATTR_TYPE:
		return ulong(v, len, &a->type);
	case T_ATTR_BYTES:
		if (len > (CK_ULONG)-1 - 1) /* never CK_UNAVAILABLE_INFORMATION */
			return -1;
		a->kind = WIRE_BYTES, a->value = v, a->len = (CK_ULONG)len;
		break;
	case T_ATTR_ULONG:
		a->kind = WIRE_ULONG, a->len = sizeof(CK_ULONG);
		if (ulong(v, len, &a->ul))
			return -1;
		break;
	case T_ATTR_BOOL:
		if (u64(v, len, &b) || b > 1)
			return -1;
		a->kind = WIRE_BOOL, a->b = b ? CK_TRUE : CK_FALSE, a->len = 1;
		break;
	default:
		return 0;
	}
	return a->value_fields++ == 0 ? 0 : -1; /* exactly one value */
}

static int object_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	wire_object *o = ctx;
	if (tag == T_OBJ_SIGNLEN)
		return ulong(v, len, &o->siglen);
	if (tag != T_ATTR)
		return 0;
	if (o->nattrs == WIRE_MAX_ATTRS)
		return -1;
	wire_attr *a = &o->attrs[o->nattrs];
	memset(a, 0, sizeof *a);
	if (each(v, len, BIT(T_ATTR_TYPE), BIT(T_ATTR_TYPE), attr_field, a) || a->value_fields != 1)
		return -1;
	for (size_t i = 0; i < o->nattrs; i++)
		if (o->attrs[i].type == a->type)
			return -1;
	o->nattrs++;
	return 0;
}

static int mech_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	wire_mech *m = ctx;
	CK_ULONG *dst = tag == T_MECH_TYPE ? &m->type : tag == T_MECH_MIN ? &m->min : tag == T_MECH_MAX ? &m->max
		: tag == T_MECH_FLAGS ? &m->flags : NULL;
	return dst ? ulong(v, len, dst) : 0;
}

static int token_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	wire_token *t = ctx;
	wire_str *str = tag == T_TOKEN_LABEL ? &t->label : tag == T_TOKEN_MANUF ? &t->manufacturer
		: tag == T_TOKEN_MODEL ? &t->model : tag == T_TOKEN_SERIAL ? &t->serial : NULL;
	if (str) {
		str->s = v, str->n = len;
	} else if (tag == T_MECH) {
		if (t->nmechs == WIRE_MAX_MECHS)
			return -1;
		uint64_t fields = BIT(T_MECH_TYPE) | BIT(T_MECH_MIN) | BIT(T_MECH_MAX) | BIT(T_MECH_FLAGS);
		if (each(v, len, fields, BIT(T_MECH_TYPE), mech_field, &t->mechs[t->nmechs]))
			return -1;
		t->nmechs++;
	} else if (tag == T_OBJECT) {
		/* t->objects has room for every object: parse_token counted them. */
		if (each(v, len, BIT(T_OBJ_SIGNLEN), 0, object_field, &t->objects[t->nobjects]))
			return -1;
		t->nobjects++;
	}
	return 0;
}

static int slot_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	wire_slot *sl = ctx;
	switch (tag) {
	case T_SLOT_ID:
		return ulong(v, len, &sl->id);
	case T_SLOT_DESC:
		sl->description.s = v, sl->description.n = len;
		break;
	case T_TOKEN: {
		wire_token *t = &sl->token;
		long nobj = count(v, len, T_OBJECT);
		if (nobj < 0 || nobj > WIRE_MAX_OBJECTS)
			return -1;
		if (nobj > 0 && !(t->objects = calloc((size_t)nobj, sizeof *t->objects)))
			return -1;
		sl->present = 1;
		uint64_t single = BIT(T_TOKEN_LABEL) | BIT(T_TOKEN_MANUF) | BIT(T_TOKEN_MODEL) | BIT(T_TOKEN_SERIAL);
		return each(v, len, single, 0, token_field, t);
	}
	}
	return 0;
}

typedef struct {
	wire_response *res;
	uint64_t version;
} response_ctx;

static int response_field(void *ctx, unsigned tag, const unsigned char *v, size_t len) {
	response_ctx *c = ctx;
	wire_response *res = c->res;
	switch (tag) {
	case T_VERSION:
		return u64(v, len, &c->version);
	case T_STATUS:
		return u64(v, len, &res->status);
	case T_GENERATION:
		return u64(v, len, &res->generation);
	case T_SIGNATURE:
		res->signature.s = v, res->signature.n = len;
		break;
	case T_SLOT: {
		/* res->slots has room for every slot: wire_parse counted them. */
		wire_slot *sl = &res->slots[res->nslots++];
		if (each(v, len, BIT(T_SLOT_ID) | BIT(T_SLOT_DESC) | BIT(T_TOKEN), BIT(T_SLOT_ID), slot_field, sl))
			return -1;
		for (size_t i = 0; i + 1 < res->nslots; i++)
			if (res->slots[i].id == sl->id)
				return -1;
		break;
	}
	}
	return 0;
}

int wire_parse(unsigned char *msg, size_t n, wire_response *res) {
	memset(res, 0, sizeof *res);
	res->msg = msg;
	long nslots = count(msg, n, T_SLOT);
	if (nslots < 0 || nslots > WIRE_MAX_SLOTS)
		goto bad;
	if (nslots > 0 && !(res->slots = calloc((size_t)nslots, sizeof *res->slots)))
		goto bad;
	response_ctx c = {res, 0};
	uint64_t single = BIT(T_VERSION) | BIT(T_STATUS) | BIT(T_GENERATION) | BIT(T_MESSAGE) | BIT(T_SIGNATURE);
	if (each(msg, n, single, BIT(T_VERSION) | BIT(T_STATUS), response_field, &c))
		goto bad;
	/* A newer service answers an old request in the request's version,
	 * or says it cannot: any other version is a broken peer. */
	if (c.version != WIRE_VERSION && res->status != WIRE_VERSION_MISMATCH)
		goto bad;
	return 0;
bad:
	wire_free(res);
	return -1;
}

void wire_free(wire_response *r) {
	for (size_t i = 0; i < r->nslots; i++)
		free(r->slots[i].token.objects);
	free(r->slots);
	free(r->msg);
	memset(r, 0, sizeof *r);
}

/* An encoder that stops writing (and keeps failing) once out of room. */
typedef struct {
	unsigned char *p;
	size_t n, cap;
	int full;
} enc;

static void put(enc *e, unsigned tag, const void *v, size_t len) {
	if (e->full || len > 0xFFFFFFFFu || e->cap - e->n < 6 || e->cap - e->n - 6 < len) {
		e->full = 1;
		return;
	}
	unsigned char *p = e->p + e->n;
	p[0] = (unsigned char)(tag >> 8), p[1] = (unsigned char)tag;
	p[2] = (unsigned char)(len >> 24), p[3] = (unsigned char)(len >> 16), p[4] = (unsigned char)(len >> 8), p[5] = (unsigned char)len;
	if (len)
		memcpy(p + 6, v, len);
	e->n += 6 + len;
}

static void put_u64(enc *e, unsigned tag, uint64_t x) {
	unsigned char b[8];
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(x >> (56 - 8 * i));
	put(e, tag, b, 8);
}

size_t wire_snapshot_request(unsigned char *buf, size_t cap, uint64_t generation) {
	enc e = {buf, 0, cap, 0};
	put_u64(&e, T_VERSION, WIRE_VERSION);
	put_u64(&e, T_OP, WIRE_OP_SNAPSHOT);
	if (generation)
		put_u64(&e, T_GENERATION, generation);
	return e.full ? 0 : e.n;
}

size_t wire_sign_request(unsigned char *buf, size_t cap, const wire_sign *s) {
	enc e = {buf, 0, cap, 0};
	put_u64(&e, T_VERSION, WIRE_VERSION);
	put_u64(&e, T_OP, WIRE_OP_SIGN);
	put_u64(&e, T_SIGN_SLOT, s->slot);
	put(&e, T_SIGN_SERIAL, s->serial, s->serial_len);
	put(&e, T_SIGN_KEY_ID, s->key_id, s->key_id_len);
	put_u64(&e, T_SIGN_MECH, s->mechanism);
	if (s->pss) {
		put_u64(&e, T_SIGN_PSS_HASH, s->pss_params.hashAlg);
		put_u64(&e, T_SIGN_PSS_MGF, s->pss_params.mgf);
		put_u64(&e, T_SIGN_PSS_SALT, s->pss_params.sLen);
	}
	put(&e, T_SIGN_DATA, s->data, s->data_len);
	return e.full ? 0 : e.n;
}
