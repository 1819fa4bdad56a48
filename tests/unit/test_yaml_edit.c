/*
 * test_yaml_edit.c: byte-preserving YAML edits (yaml_edit_set,
 * yaml_edit_image) against golden files in tests/fixtures/edit: the
 * output is byte-identical to the expected file, and outside one
 * contiguous block of lines the input is unchanged.
 */
#include "config.h"

#include "unit.h"

static char *
fixture_path(const char *file)
{
	const char	*srcdir = getenv("TEST_SRCDIR");
	char		*dir, *path;

	dir = path_join(srcdir != NULL ? srcdir : ".", "tests/fixtures/edit");
	path = path_join(dir, file);
	free(dir);
	return (path);
}

static char *
fixture_read(const char *file, size_t *len)
{
	char	*path = fixture_path(file), *data = NULL, *cause = NULL;

	if (file_read(path, 1024 * 1024, &data, len, &cause) == -1)
		fail_msg("%s", cause);
	free(path);
	return (data);
}

/* The lines of a text, each with its line break. */
static void
lines_split(const char *s, size_t len, struct strv *v)
{
	const char	*p = s, *nl;
	char		*line;

	while (p < s + len) {
		nl = memchr(p, '\n', s + len - p);
		nl = nl != NULL ? nl + 1 : s + len;
		line = xstrndup(p, nl - p);
		strv_add(v, line);
		free(line);
		p = nl;
	}
}

/*
 * Every line of in and out is the same except one contiguous block:
 * removed lines of in, replaced by added lines of out.
 */
static void
assert_lines_kept(const char *in, size_t inlen, const char *out,
    size_t outlen, size_t removed, size_t added)
{
	struct strv	a = { NULL, 0 }, b = { NULL, 0 };
	size_t		pre = 0, suf = 0;

	lines_split(in, inlen, &a);
	lines_split(out, outlen, &b);
	while (pre < a.n && pre < b.n && strcmp(a.v[pre], b.v[pre]) == 0)
		pre++;
	while (suf < a.n - pre && suf < b.n - pre &&
	    strcmp(a.v[a.n - 1 - suf], b.v[b.n - 1 - suf]) == 0)
		suf++;
	assert_int_equal(a.n - pre - suf, removed);
	assert_int_equal(b.n - pre - suf, added);
	strv_free(&a);
	strv_free(&b);
}

/* Run one edit and compare with the golden file. */
static void
golden_set(const char *in, const char *const *path, const char *value,
    const char *expect, size_t removed, size_t added)
{
	char	*src, *want, *out = NULL, *cause = NULL;
	size_t	 srclen, wantlen, outlen;
	int	 changed = -1;

	src = fixture_read(in, &srclen);
	want = fixture_read(expect, &wantlen);
	if (yaml_edit_set(in, src, srclen, path, value, &out, &outlen,
	    &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 1);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_int_equal(out[outlen], '\0');
	assert_lines_kept(src, srclen, out, outlen, removed, added);
	free(src);
	free(want);
	free(out);
}

static void
golden_image(const char *in, const char *image, const char *new_name,
    const char *tag, const char *digest, const char *expect, size_t removed,
    size_t added)
{
	char	*src, *want, *out = NULL, *cause = NULL;
	size_t	 srclen, wantlen, outlen;
	int	 changed = -1;

	src = fixture_read(in, &srclen);
	want = fixture_read(expect, &wantlen);
	if (yaml_edit_image(in, src, srclen, image, new_name, tag, digest,
	    &out, &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 1);
	assert_int_equal(outlen, wantlen);
	assert_memory_equal(out, want, wantlen);
	assert_lines_kept(src, srclen, out, outlen, removed, added);
	free(src);
	free(want);
	free(out);
}

static const char *const staging_checkout[] = { "staging",
    "checkout-service", NULL };

static void
test_yaml_edit_set_comments_kept(void **state)
{
	(void)state;
	golden_set("comments.in.yaml", staging_checkout, "v3.0.1-3f2c1ab",
	    "comments.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_plain_stays_plain(void **state)
{
	(void)state;
	golden_set("plain.in.yaml", staging_checkout, "v3.0.2-3f2c1ab",
	    "plain.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_single_quoted_doubles_quote(void **state)
{
	(void)state;
	golden_set("single.in.yaml", staging_checkout, "it's v3.0.2",
	    "single.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_number_like_gets_quoted(void **state)
{
	(void)state;
	golden_set("quotes.in.yaml", staging_checkout, "1.10",
	    "quotes.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_bool_like_gets_quoted(void **state)
{
	static const char *const path[] = { "staging", "feature-flag", NULL };
	const char	*src = "staging:\n  feature-flag: on-call\n";
	char		*out = NULL, *cause = NULL;
	size_t		 outlen;
	int		 changed;

	(void)state;
	if (yaml_edit_set("t.yaml", src, strlen(src), path, "true", &out,
	    &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_string_equal(out, "staging:\n  feature-flag: \"true\"\n");
	free(out);
}

static void
test_yaml_edit_set_non_ascii_before_edit_kept(void **state)
{
	(void)state;
	golden_set("utf8.in.yaml", staging_checkout, "v3.1.0-ünï",
	    "utf8.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_crlf_kept(void **state)
{
	static const char *const path[] = { "staging", "payments-service",
	    NULL };

	(void)state;
	golden_set("crlf.in.yaml", path, "v1.0.0-ccc333", "crlf.out.yaml",
	    0, 1);
}

static void
test_yaml_edit_set_new_service_inserted(void **state)
{
	static const char *const path[] = { "production", "frontend-shell",
	    NULL };

	(void)state;
	golden_set("comments.in.yaml", path, "v0.9.0-fff000",
	    "newservice.out.yaml", 0, 1);
}

static void
test_yaml_edit_set_new_environment_appended(void **state)
{
	static const char *const path[] = { "qa", "checkout-service", NULL };

	(void)state;
	golden_set("comments.in.yaml", path, "v3.0.1-3f2c1ab",
	    "newenv.out.yaml", 0, 2);
}

static void
test_yaml_edit_set_flow_mapping_inserted(void **state)
{
	static const char *const path[] = { "production", "payments-service",
	    NULL };

	(void)state;
	golden_set("flow.in.yaml", path, "v1.0.0", "flow.out.yaml", 1, 1);
}

static void
test_yaml_edit_set_flow_mapping_value_replaced(void **state)
{
	const char	*src = "staging: {a: v1, b: \"v2\"}  # x\n";
	char		*out = NULL, *cause = NULL;
	static const char *const path[] = { "staging", "a", NULL };
	size_t		 outlen;
	int		 changed;

	(void)state;
	/* A comma would end a plain scalar in a flow mapping. */
	if (yaml_edit_set("t.yaml", src, strlen(src), path, "x,y", &out,
	    &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_string_equal(out, "staging: {a: \"x,y\", b: \"v2\"}  # x\n");
	free(out);
}

static void
test_yaml_edit_set_null_environment_filled(void **state)
{
	static const char *const path[] = { "production", "checkout-service",
	    NULL };

	(void)state;
	golden_set("nullenv.in.yaml", path, "v3.0.1-ghi789",
	    "nullenv.out.yaml", 0, 1);
}

/* Run an edit on inline text; returns the output (or fails the test). */
static char *
edit_inline(const char *src, const char *const *path, const char *value)
{
	char	*out = NULL, *cause = NULL;
	size_t	 outlen;
	int	 changed;

	if (yaml_edit_set("t.yaml", src, strlen(src), path, value, &out,
	    &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 1);
	assert_int_equal(strlen(out), outlen);
	return (out);
}

static void
test_yaml_edit_set_byte_order_mark_kept(void **state)
{
	char	*out;

	(void)state;
	out = edit_inline("\xef\xbb\xbfstaging:\n  a: \"\xc3\xa9\"\n"
	    "  checkout-service: v1\n", staging_checkout, "v2");
	assert_string_equal(out, "\xef\xbb\xbfstaging:\n  a: "
	    "\"\xc3\xa9\"\n  checkout-service: v2\n");
	free(out);
}

static void
test_yaml_edit_set_no_final_newline_kept(void **state)
{
	char	*out;

	(void)state;
	out = edit_inline("staging:\n  a: v1", staging_checkout, "v2");
	assert_string_equal(out, "staging:\n  a: v1\n  checkout-service: "
	    "\"v2\"");
	free(out);
}

static void
test_yaml_edit_set_empty_value_filled(void **state)
{
	char	*out;

	(void)state;
	out = edit_inline("staging:\n  checkout-service:\n  b: x\n",
	    staging_checkout, "v2");
	assert_string_equal(out, "staging:\n  checkout-service: v2\n"
	    "  b: x\n");
	free(out);
}

static void
test_yaml_edit_set_first_document_only(void **state)
{
	char	*out;

	(void)state;
	out = edit_inline("---\nstaging:\n  \"checkout-service\": v1\n---\n"
	    "staging:\n  checkout-service: v1\n", staging_checkout, "v2");
	assert_string_equal(out, "---\nstaging:\n  \"checkout-service\": v2\n"
	    "---\nstaging:\n  checkout-service: v1\n");
	free(out);
}

static void
test_yaml_edit_set_block_scalar_refused(void **state)
{
	const char	*src = "staging:\n  checkout-service: |\n    v1\n";
	char		*out = NULL, *cause = NULL;
	size_t		 outlen;
	int		 changed;

	(void)state;
	assert_int_equal(yaml_edit_set("t.yaml", src, strlen(src),
	    staging_checkout, "v2", &out, &outlen, &changed, &cause), -1);
	assert_string_equal(cause, "t.yaml:2:21: 'staging.checkout-service' "
	    "is a block scalar: cannot edit it in place");
	free(cause);
}

static void
test_yaml_edit_set_equal_value_unchanged(void **state)
{
	char	*src, *out = NULL, *cause = NULL;
	size_t	 srclen, outlen;
	int	 changed = -1;

	(void)state;
	src = fixture_read("comments.in.yaml", &srclen);
	if (yaml_edit_set("comments.in.yaml", src, srclen, staging_checkout,
	    "v3.0.1-ghi789", &out, &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 0);
	assert_int_equal(outlen, srclen);
	assert_memory_equal(out, src, srclen);
	free(src);
	free(out);
}

static void
test_yaml_edit_set_alias_on_path_refused(void **state)
{
	static const char *const base[] = { "base", "checkout-service",
	    NULL };
	static const char *const merged[] = { "production",
	    "checkout-service", NULL };
	char	*src, *out = NULL, *cause = NULL;
	size_t	 srclen, outlen;
	int	 changed;

	(void)state;
	src = fixture_read("alias.in.yaml", &srclen);
	assert_int_equal(yaml_edit_set("alias.in.yaml", src, srclen,
	    staging_checkout, "v9", &out, &outlen, &changed, &cause), -1);
	assert_null(out);
	assert_string_equal(cause, "alias.in.yaml:3:10: 'staging' is an "
	    "alias: editing through it would change other places");
	free(cause);
	cause = NULL;
	assert_int_equal(yaml_edit_set("alias.in.yaml", src, srclen, base,
	    "v9", &out, &outlen, &changed, &cause), -1);
	assert_non_null(strstr(cause, "alias.in.yaml:1:7: 'base' has an "
	    "anchor (&base)"));
	free(cause);
	cause = NULL;
	/* A key only merged in becomes an explicit one: allowed. */
	if (yaml_edit_set("alias.in.yaml", src, srclen, merged, "v9", &out,
	    &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_non_null(strstr(out, "  <<: *base\n  checkout-service: "
	    "\"v9\"\n"));
	free(out);
	free(src);
}

static void
test_yaml_edit_set_not_a_mapping_refused(void **state)
{
	const char	*src = "staging: v1\n";
	char		*out = NULL, *cause = NULL;
	size_t		 outlen;
	int		 changed;

	(void)state;
	assert_int_equal(yaml_edit_set("t.yaml", src, strlen(src),
	    staging_checkout, "v2", &out, &outlen, &changed, &cause), -1);
	assert_string_equal(cause, "t.yaml:1:10: 'staging' is not a mapping");
	free(cause);
}

static void
test_yaml_edit_image_tag_bumped(void **state)
{
	(void)state;
	golden_image("kust.in.yaml", "ghcr.io/acme/checkout-service", NULL,
	    "3f2c1ab", NULL, "kust-tag.out.yaml", 1, 1);
}

static void
test_yaml_edit_image_digest_pinned(void **state)
{
	(void)state;
	golden_image("kust.in.yaml", "ghcr.io/acme/checkout-service", NULL,
	    NULL, "sha256:2222222222222222222222222222222222222222222222222222"
	    "222222222222", "kust-digest.out.yaml", 0, 1);
}

static void
test_yaml_edit_image_tag_drops_digest(void **state)
{
	(void)state;
	golden_image("kust.in.yaml", "ghcr.io/acme/sidecar", NULL, "v1.1.0",
	    NULL, "kust-dropdigest.out.yaml", 2, 1);
}

static void
test_yaml_edit_image_new_entry_appended(void **state)
{
	(void)state;
	golden_image("kust.in.yaml", "ghcr.io/acme/payments-service", NULL,
	    "v2.0.0", NULL, "kust-new.out.yaml", 0, 2);
}

static void
test_yaml_edit_image_missing_list_added(void **state)
{
	(void)state;
	golden_image("kust-noimages.in.yaml", "ghcr.io/acme/checkout-service",
	    NULL, "3f2c1ab", NULL, "kust-noimages.out.yaml", 0, 3);
}

static void
test_yaml_edit_image_null_list_filled(void **state)
{
	const char	*src = "kind: Kustomization\nimages: # none yet\n"
	    "resources: [x]\n";
	char		*out = NULL, *cause = NULL;
	size_t		 outlen;
	int		 changed;

	(void)state;
	if (yaml_edit_image("t.yaml", src, strlen(src), "app", NULL, "1.10",
	    NULL, &out, &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_string_equal(out, "kind: Kustomization\nimages: # none yet\n"
	    "- name: app\n  newTag: \"1.10\"\nresources: [x]\n");
	free(out);
}

static void
test_yaml_edit_image_empty_value_removes_key(void **state)
{
	const char	*src = "images:\n  - name: app # the app\n"
	    "    newTag: v2\n    newName: reg/app\n";
	char		*out = NULL, *cause = NULL;
	size_t		 outlen;
	int		 changed;

	(void)state;
	/* A rollback to a digest-only pin: the tag goes, the digest comes. */
	if (yaml_edit_image("t.yaml", src, strlen(src), "app", NULL, "",
	    "sha256:1111111111111111111111111111111111111111111111111111"
	    "111111111111", &out, &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 1);
	assert_string_equal(out, "images:\n  - name: app # the app\n"
	    "    newName: reg/app\n    digest: \"sha256:11111111111111111111"
	    "11111111111111111111111111111111111111111111\"\n");
	free(out);
	/* Removing a key that is not there changes nothing. */
	if (yaml_edit_image("t.yaml", src, strlen(src), "app", NULL, "v2",
	    "", &out, &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 0);
	assert_string_equal(out, src);
	free(out);
}

static void
test_yaml_edit_image_same_tag_unchanged(void **state)
{
	char	*src, *out = NULL, *cause = NULL;
	size_t	 srclen, outlen;
	int	 changed = -1;

	(void)state;
	src = fixture_read("kust.in.yaml", &srclen);
	if (yaml_edit_image("kust.in.yaml", src, srclen,
	    "ghcr.io/acme/checkout-service", NULL, "3f2c000", NULL, &out,
	    &outlen, &changed, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(changed, 0);
	assert_int_equal(outlen, srclen);
	assert_memory_equal(out, src, srclen);
	free(src);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_edit_set_comments_kept),
		cmocka_unit_test(test_yaml_edit_set_plain_stays_plain),
		cmocka_unit_test(
		    test_yaml_edit_set_single_quoted_doubles_quote),
		cmocka_unit_test(test_yaml_edit_set_number_like_gets_quoted),
		cmocka_unit_test(test_yaml_edit_set_bool_like_gets_quoted),
		cmocka_unit_test(
		    test_yaml_edit_set_non_ascii_before_edit_kept),
		cmocka_unit_test(test_yaml_edit_set_crlf_kept),
		cmocka_unit_test(test_yaml_edit_set_new_service_inserted),
		cmocka_unit_test(test_yaml_edit_set_new_environment_appended),
		cmocka_unit_test(test_yaml_edit_set_flow_mapping_inserted),
		cmocka_unit_test(
		    test_yaml_edit_set_flow_mapping_value_replaced),
		cmocka_unit_test(test_yaml_edit_set_null_environment_filled),
		cmocka_unit_test(test_yaml_edit_set_byte_order_mark_kept),
		cmocka_unit_test(test_yaml_edit_set_no_final_newline_kept),
		cmocka_unit_test(test_yaml_edit_set_empty_value_filled),
		cmocka_unit_test(test_yaml_edit_set_first_document_only),
		cmocka_unit_test(test_yaml_edit_set_block_scalar_refused),
		cmocka_unit_test(test_yaml_edit_set_equal_value_unchanged),
		cmocka_unit_test(test_yaml_edit_set_alias_on_path_refused),
		cmocka_unit_test(test_yaml_edit_set_not_a_mapping_refused),
		cmocka_unit_test(test_yaml_edit_image_tag_bumped),
		cmocka_unit_test(test_yaml_edit_image_digest_pinned),
		cmocka_unit_test(test_yaml_edit_image_tag_drops_digest),
		cmocka_unit_test(test_yaml_edit_image_new_entry_appended),
		cmocka_unit_test(test_yaml_edit_image_missing_list_added),
		cmocka_unit_test(test_yaml_edit_image_null_list_filled),
		cmocka_unit_test(test_yaml_edit_image_same_tag_unchanged),
		cmocka_unit_test(test_yaml_edit_image_empty_value_removes_key),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
