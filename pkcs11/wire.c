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

/* A cursor over one sequence of fields. */
typedef struct {
	const unsigned char *p;
	size_t n;
} seq;

/* next reads one field: 1, 0 at the end, -1 when malformed. */
static int next(seq *s, unsigned *tag, const unsigned char **v, size_t *len) {
	if (s->n == 0)
		return 0;
	if (s->n < 6)
		return -1;
	uint32_t l = (uint32_t)s->p[2] << 24 | (uint32_t)s->p[3] << 16 | (uint32_t)s->p[4] << 8 | s->p[5];
	if (l > s->n - 6)
		return -1;
	*tag = (unsigned)s->p[0] << 8 | s->p[1];
	*v = s->p + 6;
	*len = l;
	s->p += 6 + l;
	s->n -= 6 + l;
	return 1;
}

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

/* once refuses a field given twice in one sequence (all tags are < 64). */
static int once(uint64_t *seen, unsigned tag) {
	if (tag >= 64)
		return 0;
	if (*seen & (1ULL << tag))
		return -1;
	*seen |= 1ULL << tag;
	return 0;
}

/* count counts the fields with tag in a sequence; -1 if malformed. */
static long count(const unsigned char *p, size_t n, unsigned want) {
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	long c = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1)
		c += tag == want;
	return r < 0 ? -1 : c;
}

static int parse_attr(const unsigned char *p, size_t n, wire_attr *a) {
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0;
	int r, values = 0;
	memset(a, 0, sizeof *a);
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		switch (tag) {
		case T_ATTR_TYPE:
			if (once(&seen, tag) || ulong(v, len, &a->type))
				return -1;
			break;
		case T_ATTR_BYTES:
			if (len > (CK_ULONG)-1 - 1) /* never CK_UNAVAILABLE_INFORMATION */
				return -1;
			a->kind = WIRE_BYTES, a->value = v, a->len = (CK_ULONG)len, values++;
			break;
		case T_ATTR_ULONG:
			if (ulong(v, len, &a->ul))
				return -1;
			a->kind = WIRE_ULONG, a->len = sizeof(CK_ULONG), values++;
			break;
		case T_ATTR_BOOL: {
			uint64_t b;
			if (u64(v, len, &b) || b > 1)
				return -1;
			a->kind = WIRE_BOOL, a->b = b ? CK_TRUE : CK_FALSE, a->len = 1, values++;
			break;
		}
		}
	}
	if (r < 0 || !(seen & (1ULL << T_ATTR_TYPE)) || values != 1)
		return -1;
	return 0;
}

static int parse_object(const unsigned char *p, size_t n, wire_object *o) {
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		switch (tag) {
		case T_ATTR: {
			if (o->nattrs == WIRE_MAX_ATTRS)
				return -1;
			wire_attr *a = &o->attrs[o->nattrs];
			if (parse_attr(v, len, a))
				return -1;
			for (size_t i = 0; i < o->nattrs; i++)
				if (o->attrs[i].type == a->type)
					return -1;
			o->nattrs++;
			break;
		}
		case T_OBJ_SIGNLEN:
			if (once(&seen, tag) || ulong(v, len, &o->siglen))
				return -1;
			break;
		}
	}
	return r;
}

static int parse_mech(const unsigned char *p, size_t n, wire_mech *m) {
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		CK_ULONG *dst = tag == T_MECH_TYPE ? &m->type : tag == T_MECH_MIN ? &m->min : tag == T_MECH_MAX ? &m->max
			: tag == T_MECH_FLAGS ? &m->flags : NULL;
		if (dst && (once(&seen, tag) || ulong(v, len, dst)))
			return -1;
	}
	return r < 0 || !(seen & (1ULL << T_MECH_TYPE)) ? -1 : 0;
}

static int parse_token(const unsigned char *p, size_t n, wire_token *t) {
	long nobj = count(p, n, T_OBJECT);
	if (nobj < 0 || nobj > WIRE_MAX_OBJECTS)
		return -1;
	if (nobj > 0 && !(t->objects = calloc((size_t)nobj, sizeof *t->objects)))
		return -1;
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		wire_str *str = tag == T_TOKEN_LABEL ? &t->label : tag == T_TOKEN_MANUF ? &t->manufacturer
			: tag == T_TOKEN_MODEL ? &t->model : tag == T_TOKEN_SERIAL ? &t->serial : NULL;
		if (str) {
			if (once(&seen, tag))
				return -1;
			str->s = v, str->n = len;
		} else if (tag == T_MECH) {
			if (t->nmechs == WIRE_MAX_MECHS || parse_mech(v, len, &t->mechs[t->nmechs]))
				return -1;
			t->nmechs++;
		} else if (tag == T_OBJECT) {
			if (parse_object(v, len, &t->objects[t->nobjects]))
				return -1;
			t->nobjects++;
		}
	}
	return r;
}

static int parse_slot(const unsigned char *p, size_t n, wire_slot *sl) {
	seq s = {p, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		switch (tag) {
		case T_SLOT_ID:
			if (once(&seen, tag) || ulong(v, len, &sl->id))
				return -1;
			break;
		case T_SLOT_DESC:
			if (once(&seen, tag))
				return -1;
			sl->description.s = v, sl->description.n = len;
			break;
		case T_TOKEN:
			if (once(&seen, tag))
				return -1;
			sl->present = 1;
			if (parse_token(v, len, &sl->token))
				return -1;
			break;
		}
	}
	return r < 0 || !(seen & (1ULL << T_SLOT_ID)) ? -1 : 0;
}

int wire_parse(unsigned char *msg, size_t n, wire_response *res) {
	memset(res, 0, sizeof *res);
	res->msg = msg;
	long nslots = count(msg, n, T_SLOT);
	if (nslots < 0 || nslots > WIRE_MAX_SLOTS)
		goto bad;
	if (nslots > 0 && !(res->slots = calloc((size_t)nslots, sizeof *res->slots)))
		goto bad;
	seq s = {msg, n};
	unsigned tag;
	const unsigned char *v;
	size_t len;
	uint64_t seen = 0, version = 0;
	int r;
	while ((r = next(&s, &tag, &v, &len)) == 1) {
		switch (tag) {
		case T_VERSION:
			if (once(&seen, tag) || u64(v, len, &version))
				goto bad;
			break;
		case T_STATUS:
			if (once(&seen, tag) || u64(v, len, &res->status))
				goto bad;
			break;
		case T_GENERATION:
			if (once(&seen, tag) || u64(v, len, &res->generation))
				goto bad;
			break;
		case T_MESSAGE:
			if (once(&seen, tag))
				goto bad;
			break;
		case T_SIGNATURE:
			if (once(&seen, tag))
				goto bad;
			res->signature.s = v, res->signature.n = len;
			break;
		case T_SLOT: {
			wire_slot *sl = &res->slots[res->nslots++];
			if (parse_slot(v, len, sl))
				goto bad;
			for (size_t i = 0; i + 1 < res->nslots; i++)
				if (res->slots[i].id == sl->id)
					goto bad;
			break;
		}
		}
	}
	if (r < 0 || !(seen & (1ULL << T_VERSION)) || !(seen & (1ULL << T_STATUS)))
		goto bad;
	/* A newer service answers an old request in the request's version,
	 * or says it cannot: any other version is a broken peer. */
	if (version != WIRE_VERSION && res->status != WIRE_VERSION_MISMATCH)
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
