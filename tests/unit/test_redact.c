/*
 * test_redact.c: a command's output as the API shows it: secret-shaped
 * values masked, the rest kept, and valid UTF-8 whatever the bytes.
 */
#include "config.h"

#include "unit.h"

static void
check(const char *in, const char *want)
{
	char	*out = redact_output(in, strlen(in));

	assert_string_equal(out, want);
	assert_true(utf8_valid(out, strlen(out)));
	free(out);
}

static void
test_redact_output_masks_secret_shaped_lines(void **state)
{
	check("migrating\nDATABASE_PASSWORD=hunter2\ndone\n",
	    "migrating\nDATABASE_PASSWORD=***\ndone\n");
	check("export API_KEY='abc123'", "export API_KEY=***");
	check("  \"client_secret\": \"s3cr3t\",", "  \"client_secret\": ***");
	check("token: ghp_abcdef", "token: ***");
	check("Password : x y z", "Password : ***");
	check("+ curl -H 'Authorization: Bearer eyJhbGc' https://x",
	    "+ curl -H 'Authorization: ***");
	check("curl -H \"X: Bearer eyJhbGc\" -u a", "curl -H \"X: Bearer ***\" -u a");
	check("connecting to postgres://app:pa55w0rd@db:5432/shop",
	    "connecting to postgres://app:***@db:5432/shop");
	check("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA\n"
	    "-----END OPENSSH PRIVATE KEY-----\nafter",
	    "-----BEGIN OPENSSH PRIVATE KEY-----\n***\n***\n"
	    "-----END OPENSSH PRIVATE KEY-----\nafter");
	/* Found in review: each of these went through unmasked. */
	check("{\"type\": \"service_account\", \"private_key\": "
	    "\"-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE "
	    "KEY-----\\n\"}", "{\"type\": \"service_account\", "
	    "\"private_key\": \"-----BEGIN PRIVATE KEY-----***-----END "
	    "PRIVATE KEY-----\\n\"}");
	check("key: -----BEGIN PRIVATE KEY-----MIIEvQ-----END PRIVATE KEY-----",
	    "key: -----BEGIN PRIVATE KEY-----***-----END PRIVATE KEY-----");
	check("-----BEGIN PGP PRIVATE KEY BLOCK-----\nlQdGBF\n"
	    "-----END PGP PRIVATE KEY BLOCK-----\n",
	    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n***\n"
	    "-----END PGP PRIVATE KEY BLOCK-----\n");
	check("db at postgres://app:s3cr/et+x@db:5432/shop ok",
	    "db at postgres://app:***@db:5432/shop ok");
	check("redis://:pa@ss@host:6379", "redis://:***@host:6379");
	check("dsn app:pw@tcp(db:3306)/x", "dsn app:***@tcp(db:3306)/x");
	check("+ curl -u admin:hunter2 https://x", "+ curl -u admin:*** https://x");
	check("+ mysql --password hunter2 -h db", "+ mysql --password ***");
	check("export DB_PASS=hunter2", "export DB_PASS=***");
	check("password:\n  hunter2\nnext: 1", "password:\n***\nnext: 1");
	check("tests passed: 42", "tests passed: 42");
	/* What is not secret-shaped stays as it was. */
	check("applied 3 resources in 12 ms\nhttps://example.com/a:b\n",
	    "applied 3 resources in 12 ms\nhttps://example.com/a:b\n");
	check("no password given", "no password given");
	check("", "");
}

static void
test_redact_output_valid_utf8_whatever_the_bytes(void **state)
{
	/* \377, a cut multibyte character, an overlong '/', a surrogate. */
	check("a\377b", "a\357\277\275b");
	check("caf\303", "caf\357\277\275");
	check("\300\257", "\357\277\275\357\277\275");
	check("\355\240\200x", "\357\277\275\357\277\275\357\277\275x");
	check("d\303\251j\303\240 \360\237\232\200", "d\303\251j\303\240 "
	    "\360\237\232\200");
	assert_false(utf8_valid("a\0b", 3));
	assert_true(utf8_valid("\364\217\277\277", 4));
	assert_false(utf8_valid("\364\220\200\200", 4));
}

/* A string made from such bytes prints as valid JSON. */
static void
test_json_new_string_repairs_invalid_utf8(void **state)
{
	struct json	*o = json_new_object(), *back;
	char		*text, *cause = NULL;

	json_set(o, "out", json_new_string("ok\377\n"));
	json_set(o, "owned", json_new_string_owned(xstrdup("x\342\202")));
	text = json_print(o, 0);
	assert_true(utf8_valid(text, strlen(text)));
	back = json_parse(text, strlen(text), &cause);
	assert_non_null(back);
	assert_string_equal(json_path_string(back, "out", NULL),
	    "ok\357\277\275\n");
	assert_string_equal(json_path_string(back, "owned", NULL),
	    "x\357\277\275\357\277\275");
	json_free(back);
	json_free(o);
	free(text);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_redact_output_masks_secret_shaped_lines),
		cmocka_unit_test(
		    test_redact_output_valid_utf8_whatever_the_bytes),
		cmocka_unit_test(test_json_new_string_repairs_invalid_utf8),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
