/* test_json.c: the document tree API of json.c. */
#include "config.h"
#include "unit.h"

#include <sys/wait.h>

#include <pthread.h>
#include <unistd.h>

static struct json *
parse(const char *text)
{
	char		*cause = NULL;
	struct json	*j = json_parse(text, strlen(text), &cause);

	if (j == NULL) {
		print_error("bad test JSON: %s\n", cause);
		free(cause);
		fail();
	}
	return (j);
}

static void
test_json_new_types_and_values(void **state)
{
	struct json	*j;

	j = json_new_string("s");
	assert_int_equal(json_type(j), JSON_STRING);
	assert_string_equal(json_string(j), "s");
	assert_int_equal(json_number(j), 0);
	json_free(j);
	j = json_new_stringn("abcdef", 3);
	assert_string_equal(json_string(j), "abc");
	json_free(j);
	j = json_new_number(2.5);
	assert_int_equal(json_type(j), JSON_NUMBER);
	assert_true(json_number(j) == 2.5);
	assert_null(json_string(j));
	json_free(j);
	j = json_new_bool(1);
	assert_int_equal(json_type(j), JSON_TRUE);
	assert_true(json_is_true(j));
	json_free(j);
	j = json_new_bool(0);
	assert_int_equal(json_type(j), JSON_FALSE);
	assert_false(json_is_true(j));
	json_free(j);
	j = json_new_null();
	assert_int_equal(json_type(j), JSON_NULL);
	json_free(j);
	assert_int_equal(json_type(NULL), JSON_INVALID);
	assert_string_equal(json_type_name(JSON_OBJECT), "mapping");
	assert_string_equal(json_type_name(JSON_ARRAY), "list");
	assert_string_equal(json_type_name(JSON_TRUE), "boolean");
	assert_string_equal(json_type_name(JSON_FALSE), "boolean");
	assert_string_equal(json_type_name(JSON_NUMBER), "number");
	assert_string_equal(json_type_name(JSON_STRING), "string");
	assert_string_equal(json_type_name(JSON_NULL), "null");
	assert_string_equal(json_type_name(JSON_INVALID), "invalid");
}

static void
test_json_array_append_get_count(void **state)
{
	struct json	*a = json_new_array(), *c;
	int		 i;

	assert_int_equal(json_count(a), 0);
	assert_null(json_child(a));
	for (i = 0; i < 5; i++)
		json_array_append(a, json_new_number(i));
	assert_int_equal(json_count(a), 5);
	assert_true(json_number(json_array_get(a, 0)) == 0);
	assert_true(json_number(json_array_get(a, 4)) == 4);
	assert_null(json_array_get(a, 5));
	/* Children come in order. */
	for (i = 0, c = json_child(a); c != NULL; c = json_next(c), i++)
		assert_true(json_number(c) == i);
	assert_int_equal(i, 5);
	/* Not an array. */
	assert_null(json_array_get(json_array_get(a, 0), 0));
	json_free(a);
}

static void
test_json_object_set_replaces(void **state)
{
	struct json	*o = json_new_object();

	json_set(o, "a", json_new_number(1));
	json_set(o, "b", json_new_string("x"));
	json_set(o, "a", json_new_number(2));
	assert_int_equal(json_count(o), 2);
	assert_true(json_number(json_get(o, "a")) == 2);
	/* Replacing keeps the member's place. */
	assert_string_equal(json_key(json_child(o)), "a");
	assert_string_equal(json_key(json_next(json_child(o))), "b");
	/* Lookup is case-sensitive. */
	assert_null(json_get(o, "A"));
	assert_null(json_get(json_get(o, "b"), "x"));
	json_append_member(o, "c", json_new_null());
	assert_int_equal(json_count(o), 3);
	assert_int_equal(json_type(json_get(o, "c")), JSON_NULL);
	json_free(o);
}

static void
test_json_path_walks_members(void **state)
{
	struct json	*j;

	j = parse("{\"metadata\": {\"name\": \"checkout\", \"labels\": "
	    "{\"app\": \"shop\"}, \"n\": 3}}");
	assert_string_equal(json_path_string(j, "metadata", "name", NULL),
	    "checkout");
	assert_string_equal(json_path_string(j, "metadata", "labels", "app",
	    NULL), "shop");
	assert_null(json_path_string(j, "metadata", "n", NULL));
	assert_null(json_path_string(j, "metadata", "missing", NULL));
	assert_null(json_path(j, "metadata", "name", "deeper", NULL));
	assert_ptr_equal(json_path(j, NULL), j);
	assert_true(json_number(json_path(j, "metadata", "n", NULL)) == 3);
	assert_null(json_path(NULL, "a", NULL));
	json_free(j);
}

static void
test_json_remove_and_detach(void **state)
{
	struct json	*j, *d;

	j = parse("{\"a\": 1, \"b\": {\"c\": 2}, \"d\": 3}");
	d = json_detach(j, "b");
	assert_non_null(d);
	assert_true(json_number(json_get(d, "c")) == 2);
	assert_null(json_get(j, "b"));
	assert_int_equal(json_count(j), 2);
	assert_null(json_detach(j, "b"));
	json_remove(j, "a");
	assert_null(json_get(j, "a"));
	assert_int_equal(json_count(j), 1);
	json_remove(j, "nothing");
	assert_int_equal(json_count(j), 1);
	/* A detached member can be put elsewhere. */
	json_set(j, "moved", d);
	assert_true(json_number(json_path(j, "moved", "c", NULL)) == 2);
	json_free(j);
}

static void
test_json_equal_deep(void **state)
{
	struct json	*a, *b;

	a = parse("{\"x\": [1, {\"y\": null}, \"s\"], \"t\": true}");
	b = parse("{\"x\": [1, {\"y\": null}, \"s\"], \"t\": true}");
	assert_true(json_equal(a, b));
	json_set(json_array_get(json_get(b, "x"), 1), "y", json_new_bool(0));
	assert_false(json_equal(a, b));
	json_free(b);
	/* Member order does not matter; list order does. */
	b = parse("{\"t\": true, \"x\": [1, {\"y\": null}, \"s\"]}");
	assert_true(json_equal(a, b));
	json_free(b);
	b = parse("{\"t\": true, \"x\": [{\"y\": null}, 1, \"s\"]}");
	assert_false(json_equal(a, b));
	json_free(b);
	assert_false(json_equal(a, NULL));
	assert_true(json_equal(NULL, NULL));
	json_free(a);
}

static void
test_json_dup_is_deep(void **state)
{
	struct json	*a, *b;

	a = parse("{\"x\": {\"y\": [1, 2]}}");
	b = json_dup(a);
	assert_true(json_equal(a, b));
	json_array_append(json_path(b, "x", "y", NULL), json_new_number(3));
	assert_int_equal(json_count(json_path(a, "x", "y", NULL)), 2);
	assert_null(json_dup(NULL));
	json_free(a);
	json_free(b);
}

/* The text is refused, the cause saying why. */
static void
json_refused(const char *text, const char *why)
{
	char	*cause = NULL;

	assert_null(json_parse(text, strlen(text), &cause));
	assert_non_null(cause);
	assert_non_null(strstr(cause, why));
	free(cause);
}

/*
 * Found by tests/fuzz/fuzz_json: a tree with a key twice was not equal to
 * itself, and a lookup saw the first of the two.
 */
static void
test_json_parse_duplicate_key_refused(void **state)
{
	static const char *const bad[] = {
		"{\"url\":\"5Z\",\"url\":\"ar\"}",
		"[{\"a\":{\"b\":1,\"c\":2,\"b\":3}}]",
		/* past the pairwise check: looked up in a map */
		"{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,"
		    "\"k6\":6,\"k7\":7,\"k8\":8,\"k9\":9,\"k10\":10,"
		    "\"k11\":11,\"k12\":12,\"k13\":13,\"k14\":14,\"k15\":15,"
		    "\"k16\":16,\"k17\":17,\"k3\":18}",
	};
	struct json	*j;
	const char	*ok;
	char		*cause = NULL;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		json_refused(bad[i], "key twice");
	/* The same names in different objects are fine. */
	ok = "{\"a\":{\"a\":1},\"b\":[{\"a\":1},{\"a\":2}]}";
	j = json_parse(ok, strlen(ok), &cause);
	assert_non_null(j);
	assert_true(json_equal(j, j));
	json_free(j);
}

/*
 * Found by tests/fuzz/fuzz_json: a number past a double's range was read
 * as infinity and printed back as null.
 */
static void
test_json_parse_number_out_of_range_refused(void **state)
{
	static const char *const bad[] = { "[1,-0,1e309,1.5e-7]",
	    "{\"a\":{\"b\":-1e400}}" };
	struct json	*j;
	const char	*ok = "[1e308,-0,1e-400]";
	char		*cause = NULL;
	size_t		 i;

	(void)state;
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		json_refused(bad[i], "number out of range");
	j = json_parse(ok, strlen(ok), &cause);
	assert_non_null(j);
	json_free(j);
}

/*
 * Found by tests/fuzz/fuzz_yaml_edit: a lookup compared its text with a
 * shorter interned one by reading the byte at its own length, past the
 * shorter one's end: past the pool when that one ends the pool (ASan:
 * global-buffer-overflow). The pool is filled in a child, so that the
 * tables of this process stay empty for the tests after it; first in the
 * list, so that the child starts with empty tables.
 */
#define POOL_BYTES	(32 * 1024)	/* json.c's JSON_INTERN_POOL */
static int
intern_fill_pool_then_probe(void)
{
	char	text[65];
	size_t	i, used;

	/* Names of 64 bytes (65 with the NUL), then 6 bytes, then "q". */
	for (i = 0, used = 0; used + 65 + 8 <= POOL_BYTES; i++, used += 65) {
		snprintf(text, sizeof text, "%064zu", i);
		if (json_intern(text, 64) == NULL)
			return (2);
	}
	for (; used + 6 + 2 <= POOL_BYTES; used += 6) {
		snprintf(text, sizeof text, "%05zu", i++);
		if (json_intern(text, 5) == NULL)
			return (3);
	}
	if (used + 2 != POOL_BYTES || json_intern("q", 1) == NULL ||
	    json_intern("r", 1) != NULL)	/* the pool is full */
		return (4);
	/* New long names probe the slots, "q"'s among them. */
	for (i = 0; i < 100000; i++) {
		snprintf(text, sizeof text, "x%063zu", i);
		if (json_intern(text, 64) != NULL)
			return (5);
	}
	return (json_intern("q", 1) != NULL ? 0 : 6);
}

static void
test_json_intern_short_entry_at_pool_end_read_in_bounds(void **state)
{
	pid_t	pid;
	int	status;

	(void)state;
	if (json_intern_count_get(0) != 0)
		skip();
	if ((pid = fork()) == 0)
		_exit(intern_fill_pool_then_probe());
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

static void
test_json_parse_error_positioned(void **state)
{
	struct json	*j;
	char		*cause = NULL;
	const char	*bad = "{\n  \"a\": 1,\n  \"b\": }\n";

	j = json_parse(bad, strlen(bad), &cause);
	assert_null(j);
	assert_string_equal(cause, "line 3 column 8: invalid JSON");
	free(cause);
	cause = NULL;
	j = json_parse("[1, 2", 5, &cause);
	assert_null(j);
	assert_non_null(strstr(cause, "line 1 column"));
	free(cause);
	cause = NULL;
	/* Only len bytes are read. */
	j = json_parse("[1] trailing", 3, &cause);
	assert_non_null(j);
	assert_int_equal(json_count(j), 1);
	json_free(j);
}

static void
test_json_print_compact_and_pretty(void **state)
{
	struct json	*j;
	char		*s;

	j = parse("{ \"a\" : [1, 2.5, \"x\\ny\"], \"b\": {}, \"c\": null }");
	s = json_print(j, 0);
	assert_string_equal(s, "{\"a\":[1,2.5,\"x\\ny\"],\"b\":{},\"c\":null}");
	free(s);
	s = json_print(j, 1);
	/* Two spaces a level, one after a colon, no tab anywhere. */
	assert_string_equal(s, "{\n  \"a\": [1, 2.5, \"x\\ny\"],\n  \"b\": {\n"
	    "  },\n  \"c\": null\n}");
	json_free(j);
	/* Pretty output parses back to the same tree. */
	j = parse(s);
	free(s);
	s = json_print(j, 0);
	assert_string_equal(s, "{\"a\":[1,2.5,\"x\\ny\"],\"b\":{},\"c\":null}");
	free(s);
	json_free(j);
}

static void
test_json_print_pretty_nested_two_spaces(void **state)
{
	struct json	*j;
	char		*s;

	j = parse("{\"o\": {\"k\": \"a\\tb\", \"l\": [{\"m\": 1}]}}");
	s = json_print(j, 1);
	assert_string_equal(s, "{\n  \"o\": {\n    \"k\": \"a\\tb\",\n"
	    "    \"l\": [{\n        \"m\": 1\n      }]\n  }\n}");
	free(s);
	json_free(j);
}

static void
test_json_key_of_members_only(void **state)
{
	struct json	*j;

	j = parse("{\"k\": [true]}");
	assert_string_equal(json_key(json_get(j, "k")), "k");
	assert_null(json_key(json_array_get(json_get(j, "k"), 0)));
	assert_null(json_key(NULL));
	assert_null(json_child(NULL));
	assert_null(json_next(NULL));
	assert_int_equal(json_count(NULL), 0);
	json_free(j);
}

#define LONG_TEXT	"a string well past the length of interned values"
#define LONG_KEY	"a-member-name-longer-than-the-interning-limit-of-" \
			"sixty-four-bytes"

static void
test_json_new_string_owned_takes_string(void **state)
{
	struct json	*j;
	char		*s = xstrdup(LONG_TEXT);

	j = json_new_string_owned(s);
	assert_int_equal(json_type(j), JSON_STRING);
	/* The very buffer, not a copy: freed by json_free (leak-checked). */
	assert_ptr_equal(json_string(j), s);
	json_free(j);
	j = json_new_string_owned(xstrdup("v1"));
	assert_string_equal(json_string(j), "v1");
	assert_ptr_equal(json_string(j), json_intern_value("v1", 2));
	json_free(j);
	j = json_new_string_owned(xstrdup(""));
	assert_string_equal(json_string(j), "");
	json_free(j);
}

static void
test_json_append_member_owned_takes_key(void **state)
{
	struct json	*o = json_new_object(), *v;
	char		*key = xstrdup(LONG_KEY);

	json_append_member_owned(o, key, json_new_number(1));
	json_append_member_owned(o, xstrdup("name"), json_new_string("x"));
	v = json_get(o, LONG_KEY);
	assert_non_null(v);
	assert_ptr_equal(json_key(v), key);
	assert_ptr_equal(json_key(json_get(o, "name")), json_intern("name", 4));
	assert_string_equal(json_string(json_get(o, "name")), "x");
	assert_int_equal(json_count(o), 2);
	json_free(o);
}

static void
test_json_intern_same_text_same_copy(void **state)
{
	const char	*a, *b;

	a = json_intern("metadata", 8);
	b = json_intern("metadata.name", 8);	/* a prefix: by length */
	assert_non_null(a);
	assert_ptr_equal(a, b);
	assert_string_equal(a, "metadata");
	assert_ptr_not_equal(json_intern("metadatA", 8), a);
	assert_null(json_intern(LONG_KEY, strlen(LONG_KEY)));
	assert_null(json_intern("a\0b", 3));
	assert_null(json_intern_value(LONG_TEXT, strlen(LONG_TEXT)));
	/* Names and values are apart: a value never takes a name's slot. */
	assert_ptr_not_equal(json_intern_value("metadata", 8), a);
	assert_string_equal(json_intern_value("metadata", 8), "metadata");
}

/* Every editing call on members whose name and value are interned. */
static void
test_json_interned_members_edit_and_copy(void **state)
{
	struct json	*o = json_new_object(), *d, *v, *o2;
	char		*p;

	json_append_member(o, "kind", json_new_string("ConfigMap"));
	json_append_member(o, "name", json_new_string("web"));
	json_append_member(o, "data", json_new_stringn("TCPX", 3));
	json_append_member(o, LONG_KEY, json_new_string(LONG_TEXT));
	assert_ptr_equal(json_key(json_get(o, "kind")),
	    json_intern("kind", 4));
	assert_ptr_equal(json_string(json_get(o, "kind")),
	    json_intern_value("ConfigMap", 9));
	d = json_dup(o);
	assert_true(json_equal(o, d));
	json_set(d, "kind", json_new_string("Secret"));
	assert_string_equal(json_path_string(d, "kind", NULL), "Secret");
	assert_string_equal(json_path_string(o, "kind", NULL), "ConfigMap");
	json_set(d, "data", json_dup(json_get(o, LONG_KEY)));
	assert_string_equal(json_path_string(d, "data", NULL), LONG_TEXT);
	json_remove(d, "name");
	assert_null(json_get(d, "name"));
	v = json_detach(o, "name");
	assert_string_equal(json_key(v), "name");
	assert_string_equal(json_string(v), "web");
	o2 = json_new_object();
	json_append_member(o2, json_key(v), v);
	json_set(o2, "name", json_new_string("web2"));
	assert_string_equal(json_path_string(o2, "name", NULL), "web2");
	v = json_detach(o2, "name");
	json_array_append(d, v);	/* keeps its name: not our business */
	p = json_print(o, 0);
	assert_string_equal(p, "{\"kind\":\"ConfigMap\",\"data\":\"TCP\",\""
	    LONG_KEY "\":\"" LONG_TEXT "\"}");
	free(p);
	json_free(o);
	json_free(o2);
	json_free(d);
}

struct intern_thread {
	const char	*got[64];
};

static void *
intern_thread_cb(void *arg)
{
	struct intern_thread	*t = arg;
	char			 name[32];
	int			 i;

	for (i = 0; i < 64; i++) {
		snprintf(name, sizeof name, "thread-key-%d", i);
		t->got[i] = json_intern(name, strlen(name));
	}
	return (NULL);
}

/* Threads interning the same names at once all get one copy of each. */
static void
test_json_intern_threads_agree(void **state)
{
	struct intern_thread	t[4];
	pthread_t		th[4];
	int			i, k;

	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL,
		    intern_thread_cb, &t[i]), 0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	for (k = 0; k < 64; k++) {
		assert_non_null(t[0].got[k]);
		for (i = 1; i < 4; i++)
			assert_ptr_equal(t[0].got[k], t[i].got[k]);
	}
}

/*
 * Endless distinct names stop at the cap and are then allocated per
 * member; names interned before stay so. Last: it fills the tables.
 */
static void
test_json_intern_cap_bounds_table(void **state)
{
	struct json	*o = json_new_object();
	const char	*name = json_intern("name", 4);
	char		 key[32];
	size_t		 before, misses = 0;
	int		 i;

	before = json_intern_count_get(0);
	for (i = 0; i < 20000; i++) {
		snprintf(key, sizeof key, "k%d", i);
		if (json_intern(key, strlen(key)) == NULL)
			misses++;
		if (json_intern_value(key, strlen(key)) == NULL)
			misses++;
	}
	assert_true(json_intern_count_get(0) > before);
	assert_true(json_intern_count_get(0) <= 2048);
	assert_true(json_intern_count_get(1) <= 2048);
	assert_true(misses >= 2 * (20000 - 2048));
	assert_null(json_intern("k19999", 6));
	assert_ptr_equal(json_intern("name", 4), name);
	/* Past the cap, members and values still work (and are freed). */
	json_append_member(o, "k19998", json_new_string("k19997"));
	json_append_member_owned(o, xstrdup("k19999"),
	    json_new_string_owned(xstrdup("k19996")));
	assert_string_equal(json_path_string(o, "k19998", NULL), "k19997");
	assert_string_equal(json_path_string(o, "k19999", NULL), "k19996");
	json_free(o);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		/* First: it needs empty intern tables. */
		cmocka_unit_test(
		    test_json_intern_short_entry_at_pool_end_read_in_bounds),
		cmocka_unit_test(test_json_new_types_and_values),
		cmocka_unit_test(test_json_array_append_get_count),
		cmocka_unit_test(test_json_object_set_replaces),
		cmocka_unit_test(test_json_path_walks_members),
		cmocka_unit_test(test_json_remove_and_detach),
		cmocka_unit_test(test_json_equal_deep),
		cmocka_unit_test(test_json_dup_is_deep),
		cmocka_unit_test(test_json_parse_error_positioned),
		cmocka_unit_test(test_json_parse_duplicate_key_refused),
		cmocka_unit_test(test_json_parse_number_out_of_range_refused),
		cmocka_unit_test(test_json_print_compact_and_pretty),
		cmocka_unit_test(test_json_key_of_members_only),
		cmocka_unit_test(test_json_new_string_owned_takes_string),
		cmocka_unit_test(test_json_append_member_owned_takes_key),
		cmocka_unit_test(test_json_intern_same_text_same_copy),
		cmocka_unit_test(test_json_interned_members_edit_and_copy),
		cmocka_unit_test(test_json_intern_threads_agree),
		/* Last: it fills the intern tables. */
		cmocka_unit_test(test_json_intern_cap_bounds_table),
		cmocka_unit_test(test_json_print_pretty_nested_two_spaces),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
