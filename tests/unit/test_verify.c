/*
 * test_verify.c: signatures against allowed signers, with real keys and
 * signatures made by ssh-keygen in a scratch directory (skipped without
 * it): a good one names its signer; no signature, a key not listed,
 * changed data, another namespace, a signature of another kind and a
 * kind with no keys configured are refused, each saying why; the files
 * verify_commits names are checked.
 */
#include "config.h"
#include "unit.h"

#define DATA "tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n\nhello\n"

struct fixture {
	char *dir;
	char *signers;
	struct config_verify keys;
};

/* Run a command that must succeed; its stdout (allocated). */
static char *
run_ok(char **argv, const char *input)
{
	struct spawn_opts so;
	struct spawn_result sr;
	char *cause = NULL, *out;

	memset(&so, 0, sizeof so);
	so.timeout_ms = 30000;
	so.input = input;
	so.inputlen = input != NULL ? strlen(input) : 0;
	if (spawn_run(argv, &so, &sr, &cause) == -1)
		fail_msg("%s: %s", argv[0], cause);
	if (!sr.exited || sr.status != 0)
		fail_msg("%s failed: %s", argv[0], sr.err);
	out = sr.out;
	sr.out = NULL;
	spawn_result_free(&sr);
	return (out);
}

static void
make_key(const char *dir, const char *name)
{
	char *path = path_join(dir, name);
	char *argv[] = {(char *)"ssh-keygen", (char *)"-q", (char *)"-t",
	    (char *)"ed25519", (char *)"-N", (char *)"", (char *)"-C",
	    (char *)name, (char *)"-f", path, NULL};

	free(run_ok(argv, NULL));
	free(path);
}

/* An armoured SSH signature of data by the named key. */
static char *
sign(struct fixture *f, const char *name, const char *namespace,
    const char *data)
{
	char *key = path_join(f->dir, name), *sig;
	char *argv[] = {(char *)"ssh-keygen", (char *)"-q", (char *)"-Y",
	    (char *)"sign", (char *)"-n", (char *)namespace, (char *)"-f", key,
	    NULL};

	sig = run_ok(argv, data);
	free(key);
	return (sig);
}

static int
setup(void **state)
{
	struct fixture *f;
	char *pub, *line;

	if ((pub = spawn_find_program("ssh-keygen")) == NULL)
		return (0);
	free(pub);
	f = xcalloc(1, sizeof *f);
	f->dir = unit_mkdtemp();
	make_key(f->dir, "alice");
	make_key(f->dir, "mallory");
	pub = unit_read(f->dir, "alice.pub");
	xasprintf(&line, "# the team\nalice@example.com %s", pub);
	unit_write(f->dir, "allowed_signers", line);
	f->signers = path_join(f->dir, "allowed_signers");
	f->keys.allowed_signers = f->signers;
	free(line);
	free(pub);
	*state = f;
	return (0);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	if (f == NULL)
		return (0);
	unit_rmtree(f->dir);
	free(f->dir);
	free(f->signers);
	free(f);
	return (0);
}

/* verify_signature's verdict: NULL when good, else its cause. */
static char *
verdict(struct fixture *f, const char *sig, const char *data, char **signer)
{
	char *cause = NULL, *who = NULL;

	if (verify_signature(&f->keys, sig, sig != NULL ? strlen(sig) : 0, data,
		strlen(data), &who, &cause) == 0) {
		assert_null(cause);
		if (signer != NULL)
			*signer = who;
		else
			free(who);
		return (NULL);
	}
	assert_null(who);
	assert_non_null(cause);
	return (cause);
}

#define NEED_SSH_KEYGEN(f)                                                     \
	do {                                                                   \
		if ((f) == NULL)                                               \
			skip();                                                \
	} while (0)

static void
test_verify_signature_allowed_key_good_names_signer(void **state)
{
	struct fixture *f = *state;
	char *sig, *who = NULL;

	NEED_SSH_KEYGEN(f);
	sig = sign(f, "alice", "git", DATA);
	assert_null(verdict(f, sig, DATA, &who));
	assert_non_null(who);
	assert_int_equal(strncmp(who,
			     "alice@example.com with ED25519 key "
			     "SHA256:",
			     42),
	    0);
	free(who);
	free(sig);
}

static void
test_verify_signature_unsigned_refused(void **state)
{
	struct fixture *f = *state;
	char *why;

	NEED_SSH_KEYGEN(f);
	why = verdict(f, NULL, DATA, NULL);
	assert_string_equal(why, "it is not signed");
	free(why);
}

static void
test_verify_signature_key_not_listed_refused_with_fingerprint(void **state)
{
	struct fixture *f = *state;
	char *sig, *why, *want;

	NEED_SSH_KEYGEN(f);
	sig = sign(f, "mallory", "git", DATA);
	why = verdict(f, sig, DATA, NULL);
	xasprintf(&want,
	    "it is signed by a key not in allowed_signers '%s': "
	    "ED25519 key SHA256:",
	    f->signers);
	assert_int_equal(strncmp(why, want, strlen(want)), 0);
	free(want);
	free(why);
	free(sig);
}

static void
test_verify_signature_expired_key_refused(void **state)
{
	struct fixture *f = *state;
	char *sig, *why, *pub, *line;

	NEED_SSH_KEYGEN(f);
	pub = unit_read(f->dir, "alice.pub");
	xasprintf(&line, "alice@example.com valid-before=\"20200101\" %s", pub);
	unit_write(f->dir, "allowed_signers", line);
	sig = sign(f, "alice", "git", DATA);
	why = verdict(f, sig, DATA, NULL);
	assert_int_equal(strncmp(why, "its key is not allowed now: ", 28), 0);
	assert_non_null(strstr(why, "key has expired"));
	free(why);
	free(sig);
	free(line);
	free(pub);
}

static void
test_verify_signature_changed_data_refused(void **state)
{
	struct fixture *f = *state;
	char *sig, *why;

	NEED_SSH_KEYGEN(f);
	sig = sign(f, "alice", "git", DATA);
	why = verdict(f, sig, DATA "tampered\n", NULL);
	assert_string_equal(why,
	    "bad signature: Signature verification "
	    "failed: incorrect signature");
	free(why);
	free(sig);
}

static void
test_verify_signature_other_namespace_refused(void **state)
{
	struct fixture *f = *state;
	char *sig, *why;

	NEED_SSH_KEYGEN(f);
	sig = sign(f, "alice", "file", DATA);
	why = verdict(f, sig, DATA, NULL);
	assert_string_equal(why,
	    "bad signature: Couldn't verify signature: "
	    "namespace does not match");
	free(why);
	free(sig);
}

static void
test_verify_signature_garbage_refused(void **state)
{
	struct fixture *f = *state;
	char *why, *who = NULL;

	NEED_SSH_KEYGEN(f);
	why = verdict(f,
	    "-----BEGIN SSH SIGNATURE-----\nnot base64!\n"
	    "-----END SSH SIGNATURE-----\n",
	    DATA, NULL);
	assert_int_equal(strncmp(why, "bad signature: ", 15), 0);
	free(why);
	/* x509 (gpgsm) and anything else: not a kind we check. */
	why = verdict(f, "-----BEGIN SIGNED MESSAGE-----\nx\n", DATA, NULL);
	assert_string_equal(why, "its signature is neither SSH nor OpenPGP");
	free(why);
	/* A NUL inside: never cut short and checked as something else. */
	assert_int_equal(verify_signature(&f->keys,
			     "-----BEGIN SSH "
			     "SIGNATURE-----\0x",
			     32, DATA, strlen(DATA), &who, &why),
	    -1);
	assert_null(who);
	assert_string_equal(why, "bad signature: it holds a NUL byte");
	free(why);
}

static void
test_verify_signature_kind_without_keys_refused(void **state)
{
	struct fixture *f = *state;
	struct config_verify none = {NULL, NULL};
	char *sig, *why = NULL, *who = NULL;

	NEED_SSH_KEYGEN(f);
	why = verdict(f, "-----BEGIN PGP SIGNATURE-----\nx\n", DATA, NULL);
	assert_string_equal(why,
	    "it has an OpenPGP signature, and "
	    "verify_commits sets no 'keyring'");
	free(why);
	sig = sign(f, "alice", "git", DATA);
	none.keyring = f->signers;
	assert_int_equal(verify_signature(&none, sig, strlen(sig), DATA,
			     strlen(DATA), &who, &why),
	    -1);
	assert_string_equal(why,
	    "it has an SSH signature, and "
	    "verify_commits sets no 'allowed_signers'");
	free(why);
	free(sig);
}

static void
test_verify_check_files_missing_empty_and_listed(void **state)
{
	struct fixture *f = *state;
	struct config_verify v = {NULL, NULL};
	char *cause = NULL;

	NEED_SSH_KEYGEN(f);
	assert_int_equal(verify_check_files(&f->keys, &cause), 0);
	v.allowed_signers = path_join(f->dir, "comments");
	unit_write(f->dir, "comments", "# later\n\n  # still\n");
	assert_int_equal(verify_check_files(&v, &cause), -1);
	assert_non_null(strstr(cause, "comments' lists no key"));
	free(cause);
	free(v.allowed_signers);
	v.allowed_signers = NULL;
	v.keyring = path_join(f->dir, "nope.gpg");
	assert_int_equal(verify_check_files(&v, &cause), -1);
	assert_non_null(strstr(cause, "nope.gpg': No such file or directory"));
	free(cause);
	free(v.keyring);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_allowed_key_good_names_signer, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_unsigned_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_key_not_listed_refused_with_fingerprint,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_expired_key_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_changed_data_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_other_namespace_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_garbage_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_signature_kind_without_keys_refused, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_verify_check_files_missing_empty_and_listed, setup,
		teardown),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
