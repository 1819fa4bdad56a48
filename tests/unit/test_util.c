/*
 * test_util.c: buffers, maps, vectors, paths, durations, names, digests
 * and the atomic file write.
 */
#include "config.h"

#include <dirent.h>

#include "unit.h"

static void
test_buf_printf_grows_and_terminates(void **state)
{
	struct buf	 b;
	char		*s;
	int		 i;

	buf_init(&b);
	for (i = 0; i < 1000; i++)
		buf_printf(&b, "%d,", i);
	assert_int_equal(b.len, strlen(b.data));
	assert_true(strncmp(b.data, "0,1,2,", 6) == 0);
	assert_non_null(strstr(b.data, ",999,"));
	s = buf_release(&b);
	assert_null(b.data);
	free(s);
	s = buf_release(&b);
	assert_string_equal(s, "");
	free(s);
}

/* Removal keeps every other key reachable (probe runs are repaired). */
static void
test_strmap_remove_keeps_the_rest_reachable(void **state)
{
	struct strmap	*m = strmap_new(0);
	char		 key[32];
	intptr_t	 i;

	for (i = 1; i <= 5000; i++) {
		snprintf(key, sizeof key, "k%ld", (long)i);
		strmap_put(m, key, (void *)i);
	}
	/* Every third key, in an order that breaks many runs. */
	for (i = 4999; i >= 1; i -= 3) {
		snprintf(key, sizeof key, "k%ld", (long)i);
		assert_ptr_equal(strmap_remove(m, key), (void *)i);
		assert_null(strmap_remove(m, key));
	}
	assert_int_equal(strmap_count(m), 5000 - 1667);
	for (i = 1; i <= 5000; i++) {
		snprintf(key, sizeof key, "k%ld", (long)i);
		if (i % 3 == 1)
			assert_null(strmap_get(m, key));
		else
			assert_ptr_equal(strmap_get(m, key), (void *)i);
	}
	/* Removed keys can come back. */
	strmap_put(m, "k1", (void *)7);
	assert_ptr_equal(strmap_get(m, "k1"), (void *)7);
	strmap_free(m);
}

static void
test_strmap_put_get_many_keys_survive_growth(void **state)
{
	struct strmap	*m = strmap_new(0);
	char		 key[32];
	const char	*k;
	void		*v;
	size_t		 cursor = 0, seen = 0;
	intptr_t	 i;

	for (i = 1; i <= 5000; i++) {
		snprintf(key, sizeof key, "key-%ld", (long)i);
		assert_null(strmap_put(m, key, (void *)i));
	}
	assert_int_equal(strmap_count(m), 5000);
	for (i = 1; i <= 5000; i++) {
		snprintf(key, sizeof key, "key-%ld", (long)i);
		assert_ptr_equal(strmap_get(m, key), (void *)i);
	}
	assert_null(strmap_get(m, "key-0"));
	assert_ptr_equal(strmap_put(m, "key-7", (void *)70), (void *)7);
	assert_ptr_equal(strmap_get(m, "key-7"), (void *)70);
	assert_int_equal(strmap_count(m), 5000);
	while (strmap_next(m, &cursor, &k, &v))
		seen++;
	assert_int_equal(seen, 5000);
	strmap_free(m);
}

static void
test_strv_add_sort_contains(void **state)
{
	struct strv	sv;

	memset(&sv, 0, sizeof sv);
	strv_add(&sv, "b");
	strv_add(&sv, "c");
	strv_add(&sv, "a");
	strv_sort(&sv);
	assert_string_equal(sv.v[0], "a");
	assert_string_equal(sv.v[2], "c");
	assert_null(sv.v[3]);
	assert_true(strv_contains(&sv, "b"));
	assert_false(strv_contains(&sv, "d"));
	strv_free(&sv);
	assert_int_equal(sv.n, 0);
}

static void
test_cause_append_joins_lines(void **state)
{
	char	*cause = NULL;

	cause_append(&cause, "first %d", 1);
	cause_append(&cause, "second");
	assert_string_equal(cause, "first 1\nsecond");
	free(cause);
	cause_append(NULL, "ignored");
}

static void
test_path_normalize_cases(void **state)
{
	static const struct {
		const char	*in;
		const char	*out;
	} cases[] = {
		{ "a/b/c", "a/b/c" },
		{ "a//b/./c/", "a/b/c" },
		{ "a/b/../c", "a/c" },
		{ "apps/x/overlays/staging/../../base", "apps/x/base" },
		{ ".", "" },
		{ "", "" },
		{ "a/..", "" },
		{ "..", NULL },
		{ "a/../..", NULL },
		{ "../etc/passwd", NULL },
		{ "/etc/passwd", NULL },
	};
	size_t	 i;
	char	*p;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		p = path_normalize(cases[i].in);
		if (cases[i].out == NULL)
			assert_null(p);
		else {
			assert_non_null(p);
			assert_string_equal(p, cases[i].out);
		}
		free(p);
	}
}

static void
test_path_join_one_slash(void **state)
{
	char	*p;

	p = path_join("a/", "/b");
	assert_string_equal(p, "a/b");
	free(p);
	p = path_join("", "b");
	assert_string_equal(p, "b");
	free(p);
	p = path_join("/", "b");
	assert_string_equal(p, "/b");
	free(p);
}

static void
test_duration_parse_valid_and_invalid(void **state)
{
	uint64_t	 ms;
	char		*cause = NULL, *s;

	assert_int_equal(duration_parse("30s", &ms, &cause), 0);
	assert_int_equal(ms, 30000);
	assert_int_equal(duration_parse("1h30m", &ms, &cause), 0);
	assert_int_equal(ms, 5400000);
	assert_int_equal(duration_parse("250ms", &ms, &cause), 0);
	assert_int_equal(ms, 250);
	assert_int_equal(duration_parse("5m", &ms, &cause), 0);
	assert_int_equal(ms, 300000);
	assert_int_equal(duration_parse("2d", &ms, &cause), 0);
	assert_int_equal(ms, 172800000);
	assert_int_equal(duration_parse("5", &ms, &cause), -1);
	assert_non_null(strstr(cause, "invalid duration '5'"));
	free(cause);
	cause = NULL;
	assert_int_equal(duration_parse("5min", &ms, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(duration_parse("", &ms, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(duration_parse("-5s", &ms, &cause), -1);
	free(cause);
	cause = NULL;
	assert_int_equal(duration_parse("99999999999999999999s", &ms,
	    &cause), -1);
	assert_non_null(strstr(cause, "too large"));
	free(cause);
	s = duration_format(5400000);
	assert_string_equal(s, "1h30m");
	free(s);
	s = duration_format(1500);
	assert_string_equal(s, "1500ms");
	free(s);
	s = duration_format(0);
	assert_string_equal(s, "0s");
	free(s);
}

static void
test_time_format_rfc3339_utc_to_the_second(void **state)
{
	char	s[TIME_FORMAT_LEN];

	time_format(1796512215999ULL, s, sizeof s);
	assert_string_equal(s, "2026-12-05T23:10:15Z");
	time_format(0, s, sizeof s);
	assert_string_equal(s, "1970-01-01T00:00:00Z");
}

static void
test_name_rules_follow_rfc1123(void **state)
{
	assert_true(name_is_dns_label("checkout-staging"));
	assert_true(name_is_dns_label("a"));
	assert_false(name_is_dns_label("Checkout"));
	assert_false(name_is_dns_label("-a"));
	assert_false(name_is_dns_label("a-"));
	assert_false(name_is_dns_label("a.b"));
	assert_false(name_is_dns_label(""));
	assert_false(name_is_dns_label(
	    "a234567890123456789012345678901234567890123456789012345678901234"));
	assert_true(name_is_dns_subdomain("rollouts.argoproj.io"));
	assert_true(name_is_dns_subdomain("a-b.c"));
	assert_false(name_is_dns_subdomain(".."));
	assert_false(name_is_dns_subdomain("."));
	assert_false(name_is_dns_subdomain("a/b"));
	assert_false(name_is_dns_subdomain("a..b"));
	assert_false(name_is_dns_subdomain("a.-b"));
	assert_false(name_is_dns_subdomain("A"));
	assert_false(name_is_dns_subdomain("a_b"));
}

static void
test_timingsafe_equal_and_sha256(void **state)
{
	char	hex[65];

	assert_true(timingsafe_equal("abc", 3, "abc", 3));
	assert_false(timingsafe_equal("abc", 3, "abd", 3));
	assert_false(timingsafe_equal("abc", 3, "abcd", 4));
	assert_true(timingsafe_equal("", 0, "", 0));
	sha256_hex("abc", 3, hex);
	assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad");
}

/* known_hosts' hashed names and keys: RFC 4648 and RFC 2202 vectors. */
static void
test_base64_and_hmac_sha1_vectors(void **state)
{
	unsigned char	*out = NULL, mac[20];
	size_t		 len;
	char		*enc;

	(void)state;
	assert_int_equal(base64_decode("Zm9vYmFy", 8, &out, &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(out, "foobar", 6);
	free(out);
	/* Padding optional, as in ssh-keygen -l fingerprints. */
	assert_int_equal(base64_decode("Zm9vYg", 6, &out, &len), 0);
	assert_int_equal(len, 4);
	assert_memory_equal(out, "foob", 4);
	free(out);
	assert_int_equal(base64_decode("Zm9v!mFy", 8, &out, &len), -1);
	assert_null(out);
	enc = base64_encode("fooba", 5);
	assert_string_equal(enc, "Zm9vYmE=");
	free(enc);
	hmac_sha1("Jefe", 4, "what do ya want for nothing?", 28, mac);
	assert_memory_equal(mac, "\xef\xfc\xdf\x6a\xe5\xeb\x2f\xa2\xd2\x74"
	    "\x16\xd5\xf1\x84\xdf\x9c\x25\x9a\x7c\x79", 20);
}

static int
count_entries(const char *dir)
{
	DIR		*d = opendir(dir);
	struct dirent	*e;
	int		 n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	}
	closedir(d);
	return (n);
}

static void
test_file_write_atomic_replaces_and_leaves_no_temp(void **state)
{
	char	*dir = unit_mkdtemp(), *path, *data, *cause = NULL, *sub;
	size_t	 len;

	path = path_join(dir, "a/b/file.yaml");
	assert_int_equal(file_write_atomic(path, "one\n", 4, 0644, &cause), 0);
	assert_int_equal(file_write_atomic(path, "two\n", 4, 0644, &cause), 0);
	assert_int_equal(file_read(path, 1024, &data, &len, &cause), 0);
	assert_string_equal(data, "two\n");
	assert_int_equal(len, 4);
	free(data);
	sub = path_join(dir, "a/b");
	assert_int_equal(count_entries(sub), 1);
	free(sub);
	assert_int_equal(file_read(path, 3, &data, &len, &cause), -1);
	assert_non_null(strstr(cause, "too large"));
	free(cause);
	cause = NULL;
	free(path);
	path = path_join(dir, "missing");
	assert_int_equal(file_read(path, 3, &data, &len, &cause), -1);
	assert_non_null(strstr(cause, "No such file"));
	free(cause);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_file_write_atomic_fails_cleanly_on_directory(void **state)
{
	char	*dir = unit_mkdtemp(), *path, *cause = NULL;

	path = path_join(dir, "x");
	assert_int_equal(mkdir(path, 0755), 0);
	assert_int_equal(file_write_atomic(path, "a", 1, 0644, &cause), -1);
	assert_non_null(strstr(cause, "cannot rename"));
	free(cause);
	/* The temporary file is gone: only the directory remains. */
	assert_int_equal(count_entries(dir), 1);
	free(path);
	unit_rmtree(dir);
	free(dir);
}


/* A temporary file beside the path, parents made, nothing renamed. */
static void
test_file_write_temp_writes_beside_path_without_rename(void **state)
{
	struct stat	 st;
	char		*dir = unit_mkdtemp(), *path, *tmp, *data, *cause = NULL;
	char		*sub;
	size_t		 len;

	path = path_join(dir, "a/b/file.yaml");
	assert_int_equal(file_write_temp(path, "one\n", 4, 0640, &tmp,
	    &cause), 0);
	assert_non_null(tmp);
	assert_int_equal(strncmp(tmp, path, strlen(path)), 0);
	assert_non_null(strstr(tmp, ".tmp."));
	assert_int_equal(lstat(path, &st), -1);
	assert_int_equal(file_read(tmp, 1024, &data, &len, &cause), 0);
	assert_string_equal(data, "one\n");
	free(data);
	assert_int_equal(lstat(tmp, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(file_sync(tmp, &cause), 0);
	assert_int_equal(rename(tmp, path), 0);
	sub = path_join(dir, "a/b");
	assert_int_equal(file_sync_dir(sub, &cause), 0);
	assert_int_equal(count_entries(sub), 1);
	assert_int_equal(file_syncfs(dir, &cause) == -1, 0);
	free(sub);
	free(tmp);

	/* A second one in the existing directory. */
	assert_int_equal(file_write_temp(path, "two\n", 4, 0644, &tmp,
	    &cause), 0);
	assert_int_equal(rename(tmp, path), 0);
	assert_int_equal(file_read(path, 1024, &data, &len, &cause), 0);
	assert_string_equal(data, "two\n");
	free(data);
	free(tmp);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_file_write_temp_fails_cleanly(void **state)
{
	char	*dir = unit_mkdtemp(), *path, *tmp, *cause = NULL;

	/* A parent is a regular file. */
	unit_write(dir, "f", "x\n");
	path = path_join(dir, "f/file.yaml");
	assert_int_equal(file_write_temp(path, "a", 1, 0644, &tmp, &cause),
	    -1);
	assert_null(tmp);
	assert_non_null(strstr(cause, "f/file.yaml"));
	free(cause);
	cause = NULL;
	assert_int_equal(count_entries(dir), 1);
	free(path);
	path = path_join(dir, "missing");
	assert_int_equal(file_sync(path, &cause), -1);
	assert_non_null(strstr(cause, "missing"));
	free(cause);
	cause = NULL;
	assert_int_equal(file_sync_dir(path, &cause), -1);
	assert_non_null(strstr(cause, "missing"));
	free(cause);
	cause = NULL;
	assert_int_equal(file_syncfs(path, &cause) == 0, 0);
	free(cause);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

static void
test_time_parse_rfc3339_forms_and_refusals(void **state)
{
	static const char *const bad[] = { "", "2026-12-05", "yesterday",
	    "2026-12-05 07:00:00Z", "2026-12-05T07:00:00", "2026-12-05T07:00:00.Z",
	    "2026-12-05T07:00:00+0100", "2026-12-05T07:00:00Zjunk",
	    "2026-13-05T07:00:00Z", NULL };
	int64_t	t;
	size_t	i;

	assert_int_equal(time_parse_rfc3339("1970-01-01T00:00:00Z", &t), 0);
	assert_int_equal(t, 0);
	assert_int_equal(time_parse_rfc3339("2026-12-05T07:00:00Z", &t), 0);
	assert_int_equal(t, 1796454000);
	assert_int_equal(time_parse_rfc3339("2026-12-05T08:30:00.123456+01:30",
	    &t), 0);
	assert_int_equal(t, 1796454000);
	assert_int_equal(time_parse_rfc3339("2026-12-05T05:00:00-02:00", &t),
	    0);
	assert_int_equal(t, 1796454000);
	for (i = 0; bad[i] != NULL; i++)
		assert_int_equal(time_parse_rfc3339(bad[i], &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_printf_grows_and_terminates),
		cmocka_unit_test(test_strmap_put_get_many_keys_survive_growth),
		cmocka_unit_test(test_strmap_remove_keeps_the_rest_reachable),
		cmocka_unit_test(test_strv_add_sort_contains),
		cmocka_unit_test(test_cause_append_joins_lines),
		cmocka_unit_test(test_path_normalize_cases),
		cmocka_unit_test(test_path_join_one_slash),
		cmocka_unit_test(test_duration_parse_valid_and_invalid),
		cmocka_unit_test(test_time_format_rfc3339_utc_to_the_second),
		cmocka_unit_test(test_name_rules_follow_rfc1123),
		cmocka_unit_test(test_timingsafe_equal_and_sha256),
		cmocka_unit_test(test_base64_and_hmac_sha1_vectors),
		cmocka_unit_test(
		    test_file_write_atomic_replaces_and_leaves_no_temp),
		cmocka_unit_test(
		    test_file_write_atomic_fails_cleanly_on_directory),
		cmocka_unit_test(
		    test_file_write_temp_writes_beside_path_without_rename),
		cmocka_unit_test(test_file_write_temp_fails_cleanly),
		cmocka_unit_test(test_time_parse_rfc3339_forms_and_refusals),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
