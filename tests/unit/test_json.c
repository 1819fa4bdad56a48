/* test_json.c: the document tree API of json.c. */
#include "config.h"
#include "unit.h"

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
	assert_non_null(strchr(s, '\n'));
	assert_non_null(strstr(s, "\t\"a\":"));
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_new_types_and_values),
		cmocka_unit_test(test_json_array_append_get_count),
		cmocka_unit_test(test_json_object_set_replaces),
		cmocka_unit_test(test_json_path_walks_members),
		cmocka_unit_test(test_json_remove_and_detach),
		cmocka_unit_test(test_json_equal_deep),
		cmocka_unit_test(test_json_dup_is_deep),
		cmocka_unit_test(test_json_parse_error_positioned),
		cmocka_unit_test(test_json_print_compact_and_pretty),
		cmocka_unit_test(test_json_key_of_members_only),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
