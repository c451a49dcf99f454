/* A PKCS#11 client for the module's tests, built with the address and
 * undefined-behaviour sanitizers together with a sanitized module: what
 * the Go tests cannot do in their own process (fork, C_Finalize and
 * C_Initialize cycles checked for leaks, unloading, hostile snapshots).
 *
 *   driver MODULE cycles N   N x (initialize, walk every slot and object, sign, finalize)
 *   driver MODULE fork       initialize, fork: the child must initialize again, then signs
 *   driver MODULE poll N     initialize, N x walk (the service answers garbage), finalize
 *   driver MODULE conventions  the return codes PKCS#11 prescribes
 *   driver MODULE threads N  8 threads x N walks with signatures, at once (built with TSan)
 *
 * It unloads the module at the end, so that LeakSanitizer reports any
 * memory the module kept. Exit status 0 when all went as expected. */
#define _GNU_SOURCE
#define CRYPTOKI_COMPAT
#include "pkcs11.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static CK_FUNCTION_LIST_PTR f;

#define CHECK(call, want)                                                                                              \
	do {                                                                                                           \
		CK_RV rv_ = (call);                                                                                    \
		if (rv_ != (want)) {                                                                                   \
			fprintf(stderr, "%s:%d: %s = 0x%lx, want 0x%lx\n", __FILE__, __LINE__, #call, rv_, (CK_RV)(want)); \
			exit(2);                                                                                       \
		}                                                                                                      \
	} while (0)

static const CK_ATTRIBUTE_TYPE types[] = {CKA_CLASS, CKA_TOKEN, CKA_PRIVATE, CKA_LABEL, CKA_ID, CKA_VALUE, CKA_ISSUER,
					  CKA_SUBJECT, CKA_SERIAL_NUMBER, CKA_KEY_TYPE, CKA_MODULUS, CKA_PUBLIC_EXPONENT,
					  CKA_EC_PARAMS, CKA_EC_POINT, CKA_SIGN, CKA_ALWAYS_AUTHENTICATE, 0x8000FFFFUL};

/* walk visits every slot, token, mechanism, object and attribute; with
 * sign, signs once with each private key. Errors are fine in poll mode
 * (garbage from the service must only give errors); the number of
 * signatures is returned. */
static int walk(int sign, int strict) {
	CK_ULONG n = 0;
	CK_RV rv = f->C_GetSlotList(CK_FALSE, NULL, &n);
	if (rv != CKR_OK || n == 0)
		return 0;
	CK_SLOT_ID slots[64];
	if (n > 64)
		n = 64;
	if (f->C_GetSlotList(CK_FALSE, slots, &n) != CKR_OK)
		return 0;
	int signed_ = 0;
	for (CK_ULONG i = 0; i < n; i++) {
		CK_SLOT_INFO si;
		CK_TOKEN_INFO ti;
		f->C_GetSlotInfo(slots[i], &si);
		if (f->C_GetTokenInfo(slots[i], &ti) != CKR_OK)
			continue;
		CK_MECHANISM_TYPE mechs[16];
		CK_ULONG nm = 16;
		if (f->C_GetMechanismList(slots[i], mechs, &nm) != CKR_OK)
			nm = 0;
		for (CK_ULONG m = 0; m < nm && m < 16; m++) {
			CK_MECHANISM_INFO mi;
			f->C_GetMechanismInfo(slots[i], mechs[m], &mi);
		}
		CK_SESSION_HANDLE s;
		if (f->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
			continue;
		CK_OBJECT_CLASS trust = 0xCE534353UL;
		CK_ATTRIBUTE tt = {CKA_CLASS, &trust, sizeof trust};
		CK_OBJECT_HANDLE objs[64];
		CK_ULONG no = 0;
		f->C_FindObjectsInit(s, &tt, 1);
		f->C_FindObjects(s, objs, 64, &no);
		f->C_FindObjectsFinal(s);
		if (strict && no != 0) {
			fprintf(stderr, "trust objects found\n");
			exit(2);
		}
		f->C_FindObjectsInit(s, NULL, 0);
		f->C_FindObjects(s, objs, 64, &no);
		f->C_FindObjectsFinal(s);
		for (CK_ULONG o = 0; o < no; o++) {
			CK_OBJECT_CLASS cls = 0;
			for (size_t a = 0; a < sizeof types / sizeof types[0]; a++) {
				CK_ATTRIBUTE at = {types[a], NULL, 0};
				if (f->C_GetAttributeValue(s, objs[o], &at, 1) != CKR_OK || at.ulValueLen > 1 << 20)
					continue;
				at.pValue = malloc(at.ulValueLen + 1);
				f->C_GetAttributeValue(s, objs[o], &at, 1);
				if (types[a] == CKA_CLASS && at.ulValueLen == sizeof cls)
					memcpy(&cls, at.pValue, sizeof cls);
				free(at.pValue);
			}
			if (!sign || cls != CKO_PRIVATE_KEY || nm == 0)
				continue;
			CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
			CK_MECHANISM mech = {mechs[0], NULL, 0};
			if (mechs[0] == CKM_RSA_PKCS_PSS)
				mech.pParameter = &pss, mech.ulParameterLen = sizeof pss;
			unsigned char data[32] = {1, 2, 3};
			unsigned char sig[1024];
			CK_ULONG sl = sizeof sig;
			if (f->C_SignInit(s, &mech, objs[o]) == CKR_OK && f->C_Sign(s, data, sizeof data, sig, &sl) == CKR_OK)
				signed_++;
		}
		f->C_CloseSession(s);
	}
	return signed_;
}

static CK_RV create_mutex(CK_VOID_PTR_PTR m) { (void)m; return CKR_OK; }
static CK_RV mutex_op(CK_VOID_PTR m) { (void)m; return CKR_OK; }

/* conventions checks the return codes of PKCS#11's rules with slot 1
 * holding a PKCS#1-only RSA card and slot 2 empty. */
static void conventions(void) {
	CK_ULONG n;
	CK_SLOT_ID slots[4];
	CHECK(f->C_GetSlotList(CK_FALSE, NULL, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
	CHECK(f->C_Finalize(NULL), CKR_CRYPTOKI_NOT_INITIALIZED);
	CK_C_INITIALIZE_ARGS bad = {.pReserved = &n};
	CHECK(f->C_Initialize(&bad), CKR_ARGUMENTS_BAD);
	CK_C_INITIALIZE_ARGS own = {create_mutex, mutex_op, mutex_op, mutex_op, 0, NULL};
	CHECK(f->C_Initialize(&own), CKR_CANT_LOCK);
	CK_C_INITIALIZE_ARGS half = {create_mutex, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL};
	CHECK(f->C_Initialize(&half), CKR_ARGUMENTS_BAD);
	own.flags = CKF_OS_LOCKING_OK;
	CHECK(f->C_Initialize(&own), CKR_OK);

	CK_INFO info;
	CHECK(f->C_GetInfo(&info), CKR_OK);
	if (info.cryptokiVersion.major != 2 || info.cryptokiVersion.minor != 40)
		exit(3);
	CHECK(f->C_GetSlotList(CK_FALSE, NULL, NULL), CKR_ARGUMENTS_BAD);
	n = 0;
	CHECK(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_BUFFER_TOO_SMALL);
	if (n != 2)
		exit(4);
	CHECK(f->C_GetSlotList(CK_FALSE, slots, &n), CKR_OK);
	CK_SESSION_HANDLE s;
	CHECK(f->C_OpenSession(1, 0, NULL, NULL, &s), CKR_SESSION_PARALLEL_NOT_SUPPORTED);
	CHECK(f->C_OpenSession(2, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_TOKEN_NOT_PRESENT);
	CHECK(f->C_OpenSession(77, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_SLOT_ID_INVALID);
	CHECK(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_OpenSession(1, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
	CK_MECHANISM_INFO mi;
	CHECK(f->C_GetMechanismInfo(1, CKM_RSA_PKCS_PSS, &mi), CKR_MECHANISM_INVALID);
	CHECK(f->C_GetMechanismInfo(1, CKM_RSA_PKCS, &mi), CKR_OK);
	if (!(mi.flags & CKF_SIGN) || mi.ulMinKeySize != 2048)
		exit(5);

	CK_MECHANISM mech = {CKM_RSA_PKCS, NULL, 0};
	CHECK(f->C_EncryptInit(s, &mech, 1), CKR_FUNCTION_NOT_SUPPORTED);
	CHECK(f->C_GetFunctionStatus(s), CKR_FUNCTION_NOT_PARALLEL);
	CK_OBJECT_HANDLE objs[8];
	CHECK(f->C_FindObjects(s, objs, 8, &n), CKR_OPERATION_NOT_INITIALIZED);
	CK_OBJECT_CLASS cls = CKO_CERTIFICATE;
	CK_ATTRIBUTE byclass = {CKA_CLASS, &cls, sizeof cls};
	CHECK(f->C_FindObjectsInit(s, &byclass, 1), CKR_OK);
	CHECK(f->C_FindObjectsInit(s, &byclass, 1), CKR_OPERATION_ACTIVE);
	CHECK(f->C_FindObjects(s, objs, 8, &n), CKR_OK);
	CHECK(f->C_FindObjectsFinal(s), CKR_OK);
	if (n != 1)
		exit(6);
	CK_OBJECT_HANDLE cert = objs[0];
	cls = CKO_PRIVATE_KEY;
	CHECK(f->C_FindObjectsInit(s, &byclass, 1), CKR_OK);
	CHECK(f->C_FindObjects(s, objs, 8, &n), CKR_OK);
	CHECK(f->C_FindObjectsFinal(s), CKR_OK);
	if (n != 1)
		exit(7);
	CK_OBJECT_HANDLE key = objs[0];

	/* C_GetAttributeValue: length, too small, one bad type among good ones. */
	unsigned char small[4];
	CK_ATTRIBUTE v = {CKA_VALUE, NULL, 0};
	CHECK(f->C_GetAttributeValue(s, cert, &v, 1), CKR_OK);
	if (v.ulValueLen < 100)
		exit(8);
	v.pValue = small, v.ulValueLen = sizeof small;
	CHECK(f->C_GetAttributeValue(s, cert, &v, 1), CKR_BUFFER_TOO_SMALL);
	if (v.ulValueLen != CK_UNAVAILABLE_INFORMATION)
		exit(9);
	CK_OBJECT_CLASS got = 0;
	CK_ATTRIBUTE two[2] = {{CKA_CLASS, &got, sizeof got}, {0x8000FFFFUL, small, sizeof small}};
	CHECK(f->C_GetAttributeValue(s, cert, two, 2), CKR_ATTRIBUTE_TYPE_INVALID);
	if (got != CKO_CERTIFICATE || two[0].ulValueLen != sizeof got || two[1].ulValueLen != CK_UNAVAILABLE_INFORMATION)
		exit(10);

	/* Signing. */
	CK_RSA_PKCS_PSS_PARAMS pss = {CKM_SHA256, CKG_MGF1_SHA256, 32};
	CK_MECHANISM pssmech = {CKM_RSA_PKCS_PSS, &pss, sizeof pss};
	CK_MECHANISM withparam = {CKM_RSA_PKCS, &pss, sizeof pss};
	CHECK(f->C_SignInit(s, &mech, cert), CKR_KEY_FUNCTION_NOT_PERMITTED);
	CHECK(f->C_SignInit(s, &pssmech, key), CKR_MECHANISM_INVALID);
	CHECK(f->C_SignInit(s, &withparam, key), CKR_MECHANISM_PARAM_INVALID);
	CHECK(f->C_SignInit(s, NULL, key), CKR_ARGUMENTS_BAD);
	unsigned char data[51] = {0x30}, sig[512];
	CK_ULONG sl = 0;
	CHECK(f->C_Sign(s, data, sizeof data, NULL, &sl), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_SignInit(s, &mech, key), CKR_OK);
	CHECK(f->C_SignInit(s, &mech, key), CKR_OPERATION_ACTIVE);
	CHECK(f->C_Sign(s, data, sizeof data, NULL, &sl), CKR_OK);
	if (sl != 256)
		exit(11);
	sl = 10;
	CHECK(f->C_Sign(s, data, sizeof data, sig, &sl), CKR_BUFFER_TOO_SMALL);
	if (sl != 256)
		exit(12);
	sl = sizeof sig;
	CHECK(f->C_Sign(s, data, sizeof data, sig, &sl), CKR_OK);
	if (sl != 256)
		exit(13);
	CHECK(f->C_Sign(s, data, sizeof data, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_SignInit(s, &mech, key), CKR_OK);
	CHECK(f->C_Sign(s, data, sizeof data, sig, NULL), CKR_ARGUMENTS_BAD);
	CHECK(f->C_Sign(s, data, sizeof data, sig, &sl), CKR_OPERATION_NOT_INITIALIZED);
	CHECK(f->C_SignUpdate(s, data, sizeof data), CKR_FUNCTION_NOT_SUPPORTED);

	CK_SLOT_ID ev;
	CHECK(f->C_WaitForSlotEvent(0, &ev, NULL), CKR_FUNCTION_NOT_SUPPORTED);
	CHECK(f->C_WaitForSlotEvent(CKF_DONT_BLOCK, &ev, NULL), CKR_NO_EVENT);
	CHECK(f->C_CloseSession(s), CKR_OK);
	CHECK(f->C_CloseSession(s), CKR_SESSION_HANDLE_INVALID);
	CHECK(f->C_GetAttributeValue(s, cert, two, 1), CKR_SESSION_HANDLE_INVALID);
	CHECK(f->C_Finalize(&n), CKR_ARGUMENTS_BAD);
	CHECK(f->C_Finalize(NULL), CKR_OK);
	printf("conventions ok\n");
}

static int rounds;
static int total_signed;
static pthread_mutex_t total_lock = PTHREAD_MUTEX_INITIALIZER;

static void *worker(void *arg) {
	(void)arg;
	for (int i = 0; i < rounds; i++) {
		int got = walk(1, 0);
		pthread_mutex_lock(&total_lock);
		total_signed += got;
		pthread_mutex_unlock(&total_lock);
	}
	return NULL;
}

int main(int argc, char **argv) {
	if (argc < 3) {
		fprintf(stderr, "usage: driver MODULE cycles|fork|poll [N]\n");
		return 1;
	}
	void *lib = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!lib) {
		fprintf(stderr, "%s\n", dlerror());
		return 1;
	}
	CK_C_GetFunctionList gfl = (CK_C_GetFunctionList)dlsym(lib, "C_GetFunctionList");
	CHECK(gfl(&f), CKR_OK);
	CK_C_INITIALIZE_ARGS args = {.flags = CKF_OS_LOCKING_OK};
	int n = argc > 3 ? atoi(argv[3]) : 1, total = 0;
	if (strcmp(argv[2], "cycles") == 0) {
		for (int i = 0; i < n; i++) {
			CHECK(f->C_Initialize(&args), CKR_OK);
			CHECK(f->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
			total += walk(1, 1);
			CHECK(f->C_Finalize(NULL), CKR_OK);
			CK_ULONG c;
			CHECK(f->C_GetSlotList(CK_FALSE, NULL, &c), CKR_CRYPTOKI_NOT_INITIALIZED);
		}
	} else if (strcmp(argv[2], "fork") == 0) {
		CHECK(f->C_Initialize(&args), CKR_OK);
		total += walk(1, 1);
		pid_t pid = fork();
		if (pid == 0) {
			CK_ULONG c;
			CHECK(f->C_GetSlotList(CK_FALSE, NULL, &c), CKR_CRYPTOKI_NOT_INITIALIZED);
			CHECK(f->C_Initialize(&args), CKR_OK);
			int got = walk(1, 1);
			CHECK(f->C_Finalize(NULL), CKR_OK);
			_exit(got > 0 ? 0 : 3);
		}
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "child failed: status 0x%x\n", status);
			return 2;
		}
		printf("child signed\n");
		total += walk(1, 1);
		CHECK(f->C_Finalize(NULL), CKR_OK);
	} else if (strcmp(argv[2], "threads") == 0) {
		CHECK(f->C_Initialize(&args), CKR_OK);
		pthread_t th[8];
		rounds = n;
		for (int i = 0; i < 8; i++)
			if (pthread_create(&th[i], NULL, worker, NULL) != 0)
				return 1;
		for (int i = 0; i < 8; i++)
			pthread_join(th[i], NULL);
		total = total_signed;
		CHECK(f->C_Finalize(NULL), CKR_OK);
	} else if (strcmp(argv[2], "conventions") == 0) {
		conventions();
	} else if (strcmp(argv[2], "poll") == 0) {
		CHECK(f->C_Initialize(NULL), CKR_OK);
		for (int i = 0; i < n; i++)
			total += walk(0, 0);
		CHECK(f->C_Finalize(NULL), CKR_OK);
	} else {
		return 1;
	}
	dlclose(lib);
	printf("signed %d\n", total);
	return 0;
}
