/* test_yaml.c: YAML parsing (errors, positions, scalars, aliases) and emit. */
#include "config.h"
#include "unit.h"

/* Parse text that must succeed. */
static struct yaml_file *
parse_ok(const char *text, int flags)
{
	struct yaml_file	*f = NULL;
	char			*cause = NULL;

	if (yaml_parse("t.yaml", text, strlen(text), flags, &f,
	    &cause) == -1) {
		print_error("unexpected error: %s\n", cause);
		free(cause);
		fail();
	}
	assert_non_null(f);
	return (f);
}

/* Parse text that must fail with exactly this message. */
static void
parse_fails(const char *text, const char *want)
{
	struct yaml_file	*f = NULL;
	char			*cause = NULL;

	assert_int_equal(yaml_parse("t.yaml", text, strlen(text), 0, &f,
	    &cause), -1);
	assert_null(f);
	assert_non_null(cause);
	assert_string_equal(cause, want);
	free(cause);
}

/* The single document of text. */
static struct json *
parse_one(const char *text)
{
	struct yaml_file	*f = parse_ok(text, 0);
	struct json		*j;

	assert_int_equal(f->ndocs, 1);
	j = yaml_doc_detach(f, 0);
	yaml_file_free(f);
	return (j);
}

static void
test_yaml_parse_inexact_numbers_refused(void **state)
{
	struct json	*j;

	parse_fails("big: 9007199254740993\n", "t.yaml:1:6: number "
	    "'9007199254740993' cannot be kept exactly (integers up to 2^53 "
	    "can): quote it to keep it as text");
	parse_fails("a:\n  - 1e400\n", "t.yaml:2:5: number '1e400' cannot "
	    "be kept exactly (integers up to 2^53 can): quote it to keep it "
	    "as text");
	parse_fails("x: 0x20000000000001\n", "t.yaml:1:4: number "
	    "'0x20000000000001' cannot be kept exactly (integers up to 2^53 "
	    "can): quote it to keep it as text");
	j = parse_one("a: 9007199254740992\nb: \"9007199254740993\"\n"
	    "c: -9007199254740992\n");
	assert_true(json_number(json_get(j, "a")) == 9007199254740992.0);
	assert_string_equal(json_string(json_get(j, "b")),
	    "9007199254740993");
	assert_true(json_number(json_get(j, "c")) == -9007199254740992.0);
	json_free(j);
}

static void
test_yaml_parse_syntax_error_positioned(void **state)
{
	parse_fails("a: 1\nb: c: 2\n",
	    "t.yaml:2:5: mapping values are not allowed in this context");
	parse_fails("a: [1\nb: 2\n",
	    "t.yaml:2:2: did not find expected ',' or ']' (while parsing a "
	    "flow sequence at line 1 column 4)");
	parse_fails("a:\n  b: 1\n c: 2\n",
	    "t.yaml:3:2: did not find expected key (while parsing a block "
	    "mapping at line 1 column 1)");
}

static void
test_yaml_parse_bad_utf8_positioned(void **state)
{
	parse_fails("a: 1\nb: \xff\n", "t.yaml:2:4: invalid leading UTF-8 "
	    "octet");
}

static void
test_yaml_parse_duplicate_key_names_both(void **state)
{
	parse_fails("metadata:\n  name: a\n  labels: {}\n  name: b\n",
	    "t.yaml:4:3: duplicate key 'name' (first at line 2)");
	parse_fails("{a: 1, a: 2}\n",
	    "t.yaml:1:8: duplicate key 'a' (first at line 1)");
}

static void
test_yaml_parse_duplicate_key_big_map_found(void **state)
{
	struct buf	 b;
	struct json	*j;
	int		 i;

	/* Past the linear-scan size: the hash must find it too. */
	buf_init(&b);
	for (i = 0; i < 100; i++)
		buf_printf(&b, "k%d: %d\n", i, i);
	buf_adds(&b, "k57: again\n");
	buf_addc(&b, '\0');
	parse_fails(b.data, "t.yaml:101:1: duplicate key 'k57' (first at "
	    "line 58)");
	b.len = 0;
	for (i = 0; i < 100; i++)
		buf_printf(&b, "k%d: %d\n", i, i);
	buf_addc(&b, '\0');
	j = parse_one(b.data);
	assert_int_equal(json_count(j), 100);
	assert_int_equal(json_number(json_get(j, "k99")), 99);
	json_free(j);
	buf_free(&b);
}

static void
test_yaml_parse_non_scalar_key_rejected(void **state)
{
	parse_fails("? [a, b]\n: 1\n", "t.yaml:1:3: non-scalar mapping key");
	parse_fails("{{a: 1}: 2}\n", "t.yaml:1:2: non-scalar mapping key");
	parse_fails("x: &m {a: 1}\ny:\n  *m : 2\n",
	    "t.yaml:3:3: non-scalar mapping key");
}

static void
test_yaml_parse_undefined_alias_rejected(void **state)
{
	parse_fails("a: 1\nb: *nope\n", "t.yaml:2:4: undefined alias 'nope'");
	/* Anchors do not cross documents. */
	parse_fails("a: &x 1\n---\nb: *x\n", "t.yaml:3:4: undefined alias "
	    "'x'");
}

static char *
nested(int n)
{
	struct buf	b;
	int		i;

	buf_init(&b);
	for (i = 0; i < n; i++)
		buf_addc(&b, '[');
	for (i = 0; i < n; i++)
		buf_addc(&b, ']');
	buf_addc(&b, '\n');
	return (buf_release(&b));
}

static void
test_yaml_parse_too_deep_rejected(void **state)
{
	struct json	*j;
	char		*s;
	char		 want[64];

	s = nested(YAML_MAX_DEPTH);
	j = parse_one(s);
	assert_int_equal(json_type(j), JSON_ARRAY);
	json_free(j);
	free(s);

	s = nested(YAML_MAX_DEPTH + 1);
	snprintf(want, sizeof want, "t.yaml:1:%d: nesting deeper than %d "
	    "levels", YAML_MAX_DEPTH + 1, YAML_MAX_DEPTH);
	parse_fails(s, want);
	free(s);
}

static void
test_yaml_parse_alias_too_deep_rejected(void **state)
{
	struct buf	b;
	int		i;

	/* 100 levels anchored, then used 100 levels down: 200 deep. */
	buf_init(&b);
	buf_adds(&b, "- &deep ");
	for (i = 0; i < 100; i++)
		buf_addc(&b, '[');
	for (i = 0; i < 100; i++)
		buf_addc(&b, ']');
	buf_adds(&b, "\n- ");
	for (i = 0; i < 100; i++)
		buf_addc(&b, '[');
	buf_adds(&b, "*deep");
	for (i = 0; i < 100; i++)
		buf_addc(&b, ']');
	buf_adds(&b, "\n");
	buf_addc(&b, '\0');
	parse_fails(b.data, "t.yaml:2:103: alias 'deep' nests deeper than 128 "
	    "levels");
	buf_free(&b);
}

static void
test_yaml_parse_billion_laughs_bounded(void **state)
{
	const char	*lol =
	    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
	    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
	    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
	    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
	    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]\n";
	struct json	*j;

	/*
	 * a is 11 nodes, b 111, c 1111: the lines a-c copy 110 + 1110
	 * nodes, and the eighth *c on line d would pass 10000.
	 */
	parse_fails(lol, "t.yaml:4:36: alias 'c' expands past 10000 nodes "
	    "created through aliases");
	/* The same counting across documents of one file. */
	parse_fails("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
	    "d: [*c, *c, *c, *c, *c, *c, *c]\n"
	    "---\n"
	    "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n",
	    "t.yaml:8:37: alias 'b' expands past 10000 nodes created through "
	    "aliases");
	/* Within the bound the copies are real and equal. */
	j = parse_one("a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
	    "c: [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n");
	assert_int_equal(json_count(json_get(j, "c")), 10);
	assert_true(json_equal(json_array_get(json_get(j, "c"), 9),
	    json_get(j, "b")));
	json_free(j);
}

static void
test_yaml_parse_alias_copies_anchor(void **state)
{
	struct json	*j;

	j = parse_one("base: &b {x: 1, y: [1, 2]}\nuse: *b\nkey: &k name\n"
	    "*k : 3\nredefined: &b 7\nagain: *b\n");
	assert_true(json_equal(json_get(j, "base"), json_get(j, "use")));
	/* A copy, not the same node. */
	assert_ptr_not_equal(json_get(j, "base"), json_get(j, "use"));
	assert_int_equal(json_number(json_get(j, "name")), 3);
	assert_int_equal(json_number(json_get(j, "again")), 7);
	json_free(j);
}

static void
test_yaml_parse_merge_explicit_keys_win(void **state)
{
	struct json	*j, *want;
	char		*cause = NULL;

	j = parse_one("base: &base {a: 1, b: 2, c: 3}\n"
	    "other: &other {c: 30, d: 40}\n"
	    "m:\n"
	    "  b: 20\n"
	    "  <<: [*base, *other]\n"
	    "  a: 10\n"
	    "inline:\n"
	    "  <<: {x: 1}\n"
	    "  y: 2\n");
	want = json_parse("{\"b\": 20, \"a\": 10, \"c\": 3, \"d\": 40}", 37,
	    &cause);
	assert_non_null(want);
	assert_true(json_equal(json_get(j, "m"), want));
	json_free(want);
	want = json_parse("{\"y\": 2, \"x\": 1}", 16, &cause);
	assert_true(json_equal(json_get(j, "inline"), want));
	json_free(want);
	/* A quoted "<<" is an ordinary key. */
	json_free(j);
	j = parse_one("\"<<\": 1\n");
	assert_int_equal(json_number(json_get(j, "<<")), 1);
	json_free(j);
}

static void
test_yaml_parse_merge_non_mapping_rejected(void **state)
{
	parse_fails("a: &a [1]\nb:\n  <<: *a\n", "t.yaml:3:7: the value of a "
	    "merge key '<<' must be a mapping or a list of mappings");
	parse_fails("b:\n  <<: 3\n", "t.yaml:2:7: the value of a merge key "
	    "'<<' must be a mapping or a list of mappings");
	parse_fails("b:\n  <<: *nope\n", "t.yaml:2:7: undefined alias "
	    "'nope'");
}

static void
test_yaml_parse_nul_in_string_rejected(void **state)
{
	parse_fails("a: \"x\\0y\"\n", "t.yaml:1:4: NUL characters are not "
	    "supported in strings");
}

static void
test_yaml_parse_empty_stream_needs_flag(void **state)
{
	struct yaml_file	*f;
	char			*cause = NULL;

	parse_fails("", "t.yaml:1:1: no documents");
	parse_fails("# just a comment\n---\n---\n", "t.yaml:1:1: no "
	    "documents");
	f = parse_ok("# just a comment\n---\n", YAML_ALLOW_EMPTY);
	assert_int_equal(f->ndocs, 0);
	yaml_file_free(f);
	assert_int_equal(yaml_parse("t.yaml", NULL, 0, YAML_ALLOW_EMPTY, &f,
	    &cause), 0);
	assert_int_equal(f->ndocs, 0);
	yaml_file_free(f);
}

static void
test_yaml_parse_multi_document_drops_empty(void **state)
{
	struct yaml_file	*f;

	f = parse_ok("# leading comment\n---\na: 1\n---\n---\n# nothing\n"
	    "---\n  - x\n...\n---\nnull\n", 0);
	assert_int_equal(f->ndocs, 3);
	assert_int_equal(json_number(json_get(f->docs[0].root, "a")), 1);
	assert_int_equal(f->docs[0].line, 3);
	assert_int_equal(f->docs[0].column, 1);
	assert_int_equal(json_type(f->docs[1].root), JSON_ARRAY);
	assert_int_equal(f->docs[1].line, 8);
	assert_int_equal(f->docs[1].column, 3);
	/* An explicit null is a document, not an empty one. */
	assert_int_equal(json_type(f->docs[2].root), JSON_NULL);
	assert_int_equal(f->docs[2].line, 11);
	yaml_file_free(f);
}

static void
test_yaml_doc_detach_caller_owns(void **state)
{
	struct yaml_file	*f;
	struct json		*j;

	f = parse_ok("a: 1\n---\nb: 2\n", 0);
	j = yaml_doc_detach(f, 1);
	assert_non_null(json_get(j, "b"));
	assert_null(f->docs[1].root);
	assert_null(yaml_doc_detach(f, 1));
	assert_null(yaml_doc_detach(f, 5));
	/* Positions still answer for the detached tree. */
	{
		int	line, column;

		assert_int_equal(yaml_node_position(f, json_get(j, "b"),
		    &line, &column), 1);
		assert_int_equal(line, 3);
		assert_int_equal(column, 1);
	}
	yaml_file_free(f);
	json_free(j);
}

static void
check_pos(const struct yaml_file *f, const struct json *node, int kline,
    int kcolumn, int vline, int vcolumn)
{
	int	line, column;

	assert_non_null(node);
	assert_int_equal(yaml_node_position(f, node, &line, &column), 1);
	assert_int_equal(line, kline);
	assert_int_equal(column, kcolumn);
	assert_int_equal(yaml_value_position(f, node, &line, &column), 1);
	assert_int_equal(line, vline);
	assert_int_equal(column, vcolumn);
}

static void
test_yaml_node_position_key_and_value(void **state)
{
	struct yaml_file	*f;
	struct json		*root, *spec, *c;
	struct json		*other;
	int			 line, column;

	f = parse_ok("---\n"
	    "kind: Deployment\n"
	    "spec:\n"
	    "  replicas:   3\n"
	    "  containers:\n"
	    "  - name: app\n"
	    "    image: \"x:1\"\n"
	    "  - {name: side,  image: y}\n"
	    "  é: [a,  b]\n"
	    "anchored: &a {k: v}\n"
	    "copy: *a\n", 0);
	root = f->docs[0].root;
	check_pos(f, root, 2, 1, 2, 1);
	check_pos(f, json_get(root, "kind"), 2, 1, 2, 7);
	spec = json_get(root, "spec");
	check_pos(f, spec, 3, 1, 4, 3);
	check_pos(f, json_get(spec, "replicas"), 4, 3, 4, 15);
	c = json_get(spec, "containers");
	check_pos(f, c, 5, 3, 6, 3);
	/* List items: their own position. */
	check_pos(f, json_array_get(c, 0), 6, 5, 6, 5);
	check_pos(f, json_get(json_array_get(c, 0), "image"), 7, 5, 7, 12);
	check_pos(f, json_array_get(c, 1), 8, 5, 8, 5);
	check_pos(f, json_get(json_array_get(c, 1), "image"), 8, 19, 8, 26);
	/* Columns count characters, not bytes. */
	check_pos(f, json_array_get(json_get(spec, "é"), 1), 9, 11, 9, 11);
	/* A copy made by an alias is placed at the alias. */
	check_pos(f, json_get(root, "copy"), 11, 1, 11, 7);
	check_pos(f, json_get(json_get(root, "copy"), "k"), 11, 7, 11, 7);
	check_pos(f, json_get(json_get(root, "anchored"), "k"), 10, 15, 10,
	    18);
	/* A node from elsewhere is unknown. */
	other = json_new_null();
	assert_int_equal(yaml_node_position(f, other, &line, &column), 0);
	assert_int_equal(line, 0);
	assert_int_equal(column, 0);
	assert_int_equal(yaml_value_position(f, other, &line, &column), 0);
	json_free(other);
	yaml_file_free(f);
}

struct resolve_case {
	const char	*text;
	enum json_type	 type;
	double		 number;
	const char	*string;
};

static void
test_yaml_parse_scalar_resolution_table(void **state)
{
	static const struct resolve_case cases[] = {
		{ "null", JSON_NULL, 0, NULL },
		{ "Null", JSON_NULL, 0, NULL },
		{ "NULL", JSON_NULL, 0, NULL },
		{ "~", JSON_NULL, 0, NULL },
		{ "", JSON_NULL, 0, NULL },
		{ "nULL", JSON_STRING, 0, "nULL" },
		{ "true", JSON_TRUE, 0, NULL },
		{ "True", JSON_TRUE, 0, NULL },
		{ "TRUE", JSON_TRUE, 0, NULL },
		{ "false", JSON_FALSE, 0, NULL },
		{ "False", JSON_FALSE, 0, NULL },
		{ "FALSE", JSON_FALSE, 0, NULL },
		{ "yes", JSON_STRING, 0, "yes" },
		{ "off", JSON_STRING, 0, "off" },
		{ "0", JSON_NUMBER, 0, NULL },
		{ "42", JSON_NUMBER, 42, NULL },
		{ "-17", JSON_NUMBER, -17, NULL },
		{ "+5", JSON_NUMBER, 5, NULL },
		/* Integers as go-yaml reads them (kubectl and kustomize). */
		{ "0123", JSON_NUMBER, 83, NULL },
		{ "010", JSON_NUMBER, 8, NULL },
		{ "-010", JSON_NUMBER, -8, NULL },
		{ "00", JSON_NUMBER, 0, NULL },
		{ "09", JSON_NUMBER, 9, NULL },
		{ "012.5", JSON_NUMBER, 12.5, NULL },
		{ "1_000", JSON_NUMBER, 1000, NULL },
		{ "1__0_", JSON_NUMBER, 10, NULL },
		{ "0_10", JSON_NUMBER, 8, NULL },
		{ "1_000.5", JSON_NUMBER, 1000.5, NULL },
		{ "-_5", JSON_NUMBER, -5, NULL },
		{ "0X1f", JSON_NUMBER, 31, NULL },
		{ "0x_1F", JSON_NUMBER, 31, NULL },
		{ "+0x10", JSON_NUMBER, 16, NULL },
		{ "-0x10", JSON_NUMBER, -16, NULL },
		{ "0b101", JSON_NUMBER, 5, NULL },
		{ "0B1_1", JSON_NUMBER, 3, NULL },
		{ "-0b11", JSON_NUMBER, -3, NULL },
		{ "0O17", JSON_NUMBER, 15, NULL },
		{ "-0o17", JSON_NUMBER, -15, NULL },
		{ "0b", JSON_STRING, 0, "0b" },
		{ "0b2", JSON_STRING, 0, "0b2" },
		{ "_1", JSON_STRING, 0, "_1" },
		{ "-_", JSON_STRING, 0, "-_" },
		{ "._5", JSON_STRING, 0, "._5" },
		{ "0x1p3", JSON_STRING, 0, "0x1p3" },
		{ "2024-01-02", JSON_STRING, 0, "2024-01-02" },
		{ "0o17", JSON_NUMBER, 15, NULL },
		{ "0x1F", JSON_NUMBER, 31, NULL },
		{ "0xff", JSON_NUMBER, 255, NULL },
		{ "0x", JSON_STRING, 0, "0x" },
		{ "0o8", JSON_STRING, 0, "0o8" },
		{ "1.5", JSON_NUMBER, 1.5, NULL },
		{ "-.5", JSON_NUMBER, -0.5, NULL },
		{ "1.", JSON_NUMBER, 1, NULL },
		{ "1e3", JSON_NUMBER, 1000, NULL },
		{ "2.5E-1", JSON_NUMBER, 0.25, NULL },
		{ "1e", JSON_STRING, 0, "1e" },
		{ ".", JSON_STRING, 0, "." },
		{ ".inf", JSON_STRING, 0, ".inf" },
		{ "-.Inf", JSON_STRING, 0, "-.Inf" },
		{ ".nan", JSON_STRING, 0, ".nan" },
		{ "1.2.3", JSON_STRING, 0, "1.2.3" },
		{ "v1.2", JSON_STRING, 0, "v1.2" },
		{ "12:30", JSON_STRING, 0, "12:30" },
		{ "'42'", JSON_STRING, 0, "42" },
		{ "\"true\"", JSON_STRING, 0, "true" },
		{ "''", JSON_STRING, 0, "" },
		{ "!!str 42", JSON_STRING, 0, "42" },
		{ "!!str", JSON_STRING, 0, "" },
		{ "! 42", JSON_STRING, 0, "42" },
		{ "!!int \"42\"", JSON_NUMBER, 42, NULL },
		{ "!!float 1", JSON_NUMBER, 1, NULL },
		{ "!!bool 'true'", JSON_TRUE, 0, NULL },
		{ "!!null ''", JSON_NULL, 0, NULL },
		{ "!custom 42", JSON_NUMBER, 42, NULL },
		{ "!custom '42'", JSON_STRING, 0, "42" },
		{ "!!timestamp 2001-12-14", JSON_STRING, 0, "2001-12-14" },
		{ "|\n  a\n  b\n", JSON_STRING, 0, "a\nb\n" },
		{ ">\n  a\n  b\n", JSON_STRING, 0, "a b\n" },
		{ "|-\n  12\n", JSON_STRING, 0, "12" },
	};
	struct json	*j;
	char		*text;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		xasprintf(&text, "v: %s\n", cases[i].text);
		j = parse_one(text);
		if (json_type(json_get(j, "v")) != cases[i].type) {
			print_error("case '%s': got %s\n", cases[i].text,
			    json_type_name(json_type(json_get(j, "v"))));
			fail();
		}
		if (cases[i].type == JSON_NUMBER) {
			assert_true(json_number(json_get(j, "v")) ==
			    cases[i].number);
		}
		if (cases[i].string != NULL) {
			assert_string_equal(json_string(json_get(j, "v")),
			    cases[i].string);
		}
		json_free(j);
		free(text);
	}
}

/* What a parse with these flags logs (allocated, "" if nothing). */
static char *
parse_logged(const char *text, int flags)
{
	struct yaml_file	*f;
	char			*logged = NULL;
	size_t			 len = 0;
	FILE			*log;

	log = open_memstream(&logged, &len);
	log_init(LOG_LEVEL_INFO, log);
	f = parse_ok(text, flags);
	log_init(LOG_LEVEL_INFO, NULL);
	fclose(log);
	yaml_file_free(f);
	return (logged);
}

static void
test_yaml_parse_ambiguous_plain_warned_and_kept(void **state)
{
	/* kubectl reads a boolean, or kustomize rewrites a timestamp. */
	static const char *const warned[] = {
		"on", "Yes", "y", "N", "OFF", "no", "2024-01-02", "2024-1-2",
		"2024-02-29", "2024-01-02 03:04:05", "2024-01-02t03:04:05Z",
		"2024-01-02T3:04:05Z", "2024-01-02T03:04:05.500+01:00",
		"2024-01-02T03:04:05+00:00", "2024-01-02 03:04:05.1", NULL
	};
	/* Both read the same (kustomize writes a timestamp back as is). */
	static const char *const quiet[] = {
		"\"on\"", "'2024-01-02'", "!!str yes", "true", "onn", "1_000",
		"2024-01-02T03:04:05Z", "2024-01-02T03:04:05.5+01:00",
		"2024-01-02T03:04:05", "2024-13-02", "2023-02-29",
		"12024-01-02", "2024-01-02x", "2024-01-02 03:04:05Z", NULL
	};
	struct json	*j;
	char		*text, *logged;
	size_t		 i;

	for (i = 0; warned[i] != NULL; i++) {
		xasprintf(&text, "a:\n  v: %s\n", warned[i]);
		logged = parse_logged(text, YAML_WARN_AMBIGUOUS);
		if (strstr(logged, "level=warn") == NULL ||
		    strstr(logged, "quote it") == NULL ||
		    strstr(logged, "file=t.yaml:2:6 value=") == NULL ||
		    strstr(logged, warned[i]) == NULL) {
			print_error("case '%s': logged '%s'\n", warned[i],
			    logged);
			fail();
		}
		free(logged);
		/* Kept as text, as today; and quiet without the flag. */
		j = parse_one(text);
		assert_string_equal(json_path_string(j, "a", "v", NULL),
		    warned[i]);
		json_free(j);
		logged = parse_logged(text, 0);
		assert_string_equal(logged, "");
		free(logged);
		free(text);
	}
	for (i = 0; quiet[i] != NULL; i++) {
		xasprintf(&text, "a:\n  v: %s\n", quiet[i]);
		logged = parse_logged(text, YAML_WARN_AMBIGUOUS);
		if (*logged != '\0') {
			print_error("case '%s': logged '%s'\n", quiet[i],
			    logged);
			fail();
		}
		free(logged);
		free(text);
	}
}

static void
test_yaml_parse_bool11_flag_reads_booleans(void **state)
{
	struct yaml_file	*f;
	const struct json	*r;

	f = parse_ok("a: on\nb: No\nc: 'yes'\nd: y\ne: OFF\nf: onn\n",
	    YAML_BOOL11);
	r = f->docs[0].root;
	assert_int_equal(json_type(json_get(r, "a")), JSON_TRUE);
	assert_int_equal(json_type(json_get(r, "b")), JSON_FALSE);
	assert_string_equal(json_string(json_get(r, "c")), "yes");
	assert_int_equal(json_type(json_get(r, "d")), JSON_TRUE);
	assert_int_equal(json_type(json_get(r, "e")), JSON_FALSE);
	assert_string_equal(json_string(json_get(r, "f")), "onn");
	yaml_file_free(f);
}

static void
test_yaml_parse_bad_tagged_value_rejected(void **state)
{
	parse_fails("a: !!int abc\n", "t.yaml:1:4: invalid !!int value "
	    "'abc'");
	parse_fails("a: !!bool yes\n", "t.yaml:1:4: invalid !!bool value "
	    "'yes'");
	parse_fails("a: !!float x\n", "t.yaml:1:4: invalid !!float value "
	    "'x'");
	parse_fails("a: !!null 0\n", "t.yaml:1:4: invalid !!null value '0'");
}

static void
test_yaml_parse_keys_are_text(void **state)
{
	struct json	*j;

	j = parse_one("1: a\ntrue: b\n~: c\n\"q\": d\n0x10: e\n");
	assert_string_equal(json_string(json_get(j, "1")), "a");
	assert_string_equal(json_string(json_get(j, "true")), "b");
	assert_string_equal(json_string(json_get(j, "~")), "c");
	assert_string_equal(json_string(json_get(j, "q")), "d");
	assert_string_equal(json_string(json_get(j, "0x10")), "e");
	json_free(j);
}

static void
test_yaml_parse_json_input_accepted(void **state)
{
	struct json	*j, *want;
	const char	*text =
	    "{\"a\":1,\"b\":[true,null,\"x\\/y\",1.5e3],\n"
	    "\t\"c\": {\"d\": \"\\u00e9\"}}\n";
	char		*cause = NULL;

	j = parse_one(text);
	want = json_parse(text, strlen(text), &cause);
	assert_non_null(want);
	assert_true(json_equal(j, want));
	json_free(j);
	json_free(want);
}

static void
test_yaml_parse_file_reads_and_names(void **state)
{
	struct yaml_file	*f = NULL;
	char			*dir = unit_mkdtemp(), *path, *cause = NULL;
	FILE			*fp;

	unit_write(dir, "a.yaml", "a: 1\nb: c: d\n");
	path = path_join(dir, "a.yaml");
	assert_int_equal(yaml_parse_file(path, "apps/a.yaml", 0, &f, &cause),
	    -1);
	assert_string_equal(cause, "apps/a.yaml:2:5: mapping values are not "
	    "allowed in this context");
	free(cause);
	cause = NULL;
	unit_write(dir, "a.yaml", "a: 1\n");
	assert_int_equal(yaml_parse_file(path, NULL, 0, &f, &cause), 0);
	assert_string_equal(f->name, path);
	assert_int_equal(f->ndocs, 1);
	yaml_file_free(f);
	free(path);

	path = path_join(dir, "missing.yaml");
	assert_int_equal(yaml_parse_file(path, NULL, 0, &f, &cause), -1);
	assert_null(f);
	assert_non_null(strstr(cause, "No such file or directory"));
	free(cause);
	cause = NULL;
	free(path);

	path = path_join(dir, "big.yaml");
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(ftruncate(fileno(fp), YAML_MAX_FILE_SIZE + 1), 0);
	fclose(fp);
	assert_int_equal(yaml_parse_file(path, NULL, 0, &f, &cause), -1);
	assert_non_null(strstr(cause, "too large"));
	free(cause);
	free(path);
	unit_rmtree(dir);
	free(dir);
}

/* Emit j, check the text, and check it parses back equal. */
static void
emit_check(const struct json *j, const char *want)
{
	struct yaml_file	*f = NULL;
	char			*s = yaml_emit(j), *cause = NULL;

	if (want != NULL && strcmp(s, want) != 0) {
		print_error("got:\n%s\nwant:\n%s\n", s, want);
		fail();
	}
	if (yaml_parse("emitted", s, strlen(s), 0, &f, &cause) == -1) {
		print_error("cannot parse back: %s\n%s\n", cause, s);
		fail();
	}
	assert_int_equal(f->ndocs, 1);
	if (!json_equal(f->docs[0].root, j)) {
		char *a = json_print(j, 0), *b = json_print(f->docs[0].root, 0);

		print_error("round trip differs:\n%s\n%s\nvia:\n%s\n", a, b,
		    s);
		free(a);
		free(b);
		fail();
	}
	yaml_file_free(f);
	free(s);
}

static struct json *
from_json(const char *text)
{
	char		*cause = NULL;
	struct json	*j = json_parse(text, strlen(text), &cause);

	if (j == NULL) {
		print_error("bad test JSON: %s\n", cause);
		fail();
	}
	return (j);
}

static void
test_yaml_emit_kubernetes_golden(void **state)
{
	struct json	*j;

	j = from_json("{\"apiVersion\": \"apps/v1\", \"kind\": \"Deployment\","
	    "\"metadata\": {\"name\": \"checkout\", \"labels\": {},"
	    " \"annotations\": {\"argocd.argoproj.io/sync-wave\": \"5\"}},"
	    "\"spec\": {\"replicas\": 3, \"paused\": false, \"x\": null,"
	    " \"template\": {\"spec\": {\"containers\": [{\"name\": \"app\","
	    " \"image\": \"ghcr.io/acme/checkout:v3.0.1\", \"args\": [],"
	    " \"ports\": [{\"containerPort\": 8080}]}, {\"name\": \"side\"}],"
	    " \"matrix\": [[1, 2], [], [[3]]],"
	    " \"script\": \"set -e\\necho hi\\n\"}}}}");
	emit_check(j,
	    "apiVersion: apps/v1\n"
	    "kind: Deployment\n"
	    "metadata:\n"
	    "  name: checkout\n"
	    "  labels: {}\n"
	    "  annotations:\n"
	    "    argocd.argoproj.io/sync-wave: \"5\"\n"
	    "spec:\n"
	    "  replicas: 3\n"
	    "  paused: false\n"
	    "  x: null\n"
	    "  template:\n"
	    "    spec:\n"
	    "      containers:\n"
	    "      - name: app\n"
	    "        image: ghcr.io/acme/checkout:v3.0.1\n"
	    "        args: []\n"
	    "        ports:\n"
	    "        - containerPort: 8080\n"
	    "      - name: side\n"
	    "      matrix:\n"
	    "      - - 1\n"
	    "        - 2\n"
	    "      - []\n"
	    "      - - - 3\n"
	    "      script: |\n"
	    "        set -e\n"
	    "        echo hi\n");
	json_free(j);
}

static void
test_yaml_emit_roots_and_empties(void **state)
{
	struct json	*j;

	j = json_new_object();
	emit_check(j, "{}\n");
	json_free(j);
	j = json_new_array();
	emit_check(j, "[]\n");
	json_free(j);
	j = json_new_string("plain");
	emit_check(j, "plain\n");
	json_free(j);
	j = json_new_string("a\nb");
	emit_check(j, "|-\n  a\n  b\n");
	json_free(j);
	j = json_new_null();
	emit_check(j, "null\n");
	json_free(j);
	j = from_json("[{}, [], {\"a\": []}, \"\"]");
	emit_check(j, "- {}\n- []\n- a: []\n- \"\"\n");
	json_free(j);
}

struct emit_case {
	const char	*in;
	const char	*out;
};

static void
test_yaml_emit_string_quoting_table(void **state)
{
	static const struct emit_case cases[] = {
		{ "plain", "plain" },
		{ "two words", "two words" },
		{ "http://x.y/z?a=b", "http://x.y/z?a=b" },
		{ "a:b", "a:b" },
		{ "ghcr.io/acme/x:v1", "ghcr.io/acme/x:v1" },
		{ "été", "été" },
		{ ".dockerconfigjson", ".dockerconfigjson" },
		{ "", "\"\"" },
		{ "null", "\"null\"" },
		{ "Null", "\"Null\"" },
		{ "~", "\"~\"" },
		{ "true", "\"true\"" },
		{ "FALSE", "\"FALSE\"" },
		{ "yes", "\"yes\"" },
		{ "on", "\"on\"" },
		{ "N", "\"N\"" },
		{ "42", "\"42\"" },
		{ "-1", "\"-1\"" },
		{ "0x1F", "\"0x1F\"" },
		{ "1.5", "\"1.5\"" },
		{ "1e3", "\"1e3\"" },
		{ "1_000", "\"1_000\"" },
		{ "12:30", "\"12:30\"" },
		{ "3f2c1ab", "3f2c1ab" },	/* as Go's YAML writes it */
		{ "3bb8822e-b4b2-af93", "3bb8822e-b4b2-af93" },
		{ "12h", "12h" },
		{ "1.0.0-rc1", "1.0.0-rc1" },
		{ "2024-01-02T10:00:00Z", "\"2024-01-02T10:00:00Z\"" },
		{ "2024-01-02", "\"2024-01-02\"" },
		{ "0x1g", "\"0x1g\"" },
		{ "0b1", "\"0b1\"" },
		{ "1E5", "\"1E5\"" },
		{ "12345678-1234", "\"12345678-1234\"" },
		{ ".5", "\".5\"" },
		{ ".inf", "\".inf\"" },
		{ ".NaN", "\".NaN\"" },
		{ "...", "\"...\"" },
		{ "---", "\"---\"" },
		{ "<<", "\"<<\"" },
		{ " lead", "\" lead\"" },
		{ "trail ", "\"trail \"" },
		{ "a: b", "\"a: b\"" },
		{ "end:", "\"end:\"" },
		{ "a #b", "\"a #b\"" },
		{ "a#b", "a#b" },
		{ "#c", "\"#c\"" },
		{ "-x", "\"-x\"" },
		{ "?x", "\"?x\"" },
		{ ":x", "\":x\"" },
		{ ",x", "\",x\"" },
		{ "[x", "\"[x\"" },
		{ "]x", "\"]x\"" },
		{ "{x", "\"{x\"" },
		{ "}x", "\"}x\"" },
		{ "&x", "\"&x\"" },
		{ "*x", "\"*x\"" },
		{ "!x", "\"!x\"" },
		{ "|x", "\"|x\"" },
		{ ">x", "\">x\"" },
		{ "'x", "\"'x\"" },
		{ "\"x", "\"\\\"x\"" },
		{ "%x", "\"%x\"" },
		{ "@x", "\"@x\"" },
		{ "`x", "\"`x\"" },
		{ "tab\there", "\"tab\\there\"" },
		{ "back\\slash", "back\\slash" },
		{ "bell\a", "\"bell\\x07\"" },
		{ "del\x7f", "\"del\\x7F\"" },
		{ "cr\r", "\"cr\\r\"" },
		{ "nel\xc2\x85", "\"nel\\x85\"" },
		{ "ls\xe2\x80\xa8", "\"ls\\u2028\"" },
		{ "bom\xef\xbb\xbf", "\"bom\\uFEFF\"" },
	};
	struct json	*j;
	char		*want;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		/* As a value, and as a key. */
		j = json_new_object();
		json_set(j, "k", json_new_string(cases[i].in));
		xasprintf(&want, "k: %s\n", cases[i].out);
		emit_check(j, want);
		free(want);
		json_free(j);
		j = json_new_object();
		json_set(j, cases[i].in, json_new_number(1));
		xasprintf(&want, "%s: 1\n", cases[i].out);
		emit_check(j, want);
		free(want);
		json_free(j);
	}
}

static void
test_yaml_emit_literal_blocks_round_trip(void **state)
{
	static const struct emit_case cases[] = {
		{ "a\nb", "k: |-\n  a\n  b\n" },
		{ "a\nb\n", "k: |\n  a\n  b\n" },
		{ "a\nb\n\n", "k: |+\n  a\n  b\n\nnext: 1\n" },
		{ "a\n\nb\n", "k: |\n  a\n\n  b\n" },
		{ "  indented\nx\n", "k: |2\n    indented\n  x\n" },
		{ "\nleading blank\n", "k: |2\n\n  leading blank\n" },
		{ "\tx\n\ty\n", "k: |2\n  \tx\n  \ty\n" },
		{ "# not a comment\n- not a list\n",
		    "k: |\n  # not a comment\n  - not a list\n" },
		{ "key: value\n---\n...\n", "k: |\n  key: value\n  ---\n"
		    "  ...\n" },
		{ "trailing \nspace", "k: \"trailing \\nspace\"\n" },
		{ "\n", "k: \"\\n\"\n" },
		{ "\n\n", "k: \"\\n\\n\"\n" },
		{ "cr\r\nlf\n", "k: \"cr\\r\\nlf\\n\"\n" },
		{ "é\nü\n", "k: |\n  é\n  ü\n" },
	};
	struct json	*j;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		j = json_new_object();
		json_set(j, "k", json_new_string(cases[i].in));
		if (strstr(cases[i].out, "next: 1") != NULL)
			json_set(j, "next", json_new_number(1));
		emit_check(j, cases[i].out);
		json_free(j);
		/* The same inside a list and a nested list. */
		j = from_json("[[\"x\"], {\"m\": []}]");
		json_array_append(json_array_get(j, 0),
		    json_new_string(cases[i].in));
		json_array_append(json_get(json_array_get(j, 1), "m"),
		    json_new_string(cases[i].in));
		emit_check(j, NULL);
		json_free(j);
	}
}

static void
test_yaml_emit_numbers_shortest(void **state)
{
	static const struct {
		double		 d;
		const char	*out;
	} cases[] = {
		{ 0, "0" },
		{ 1000000, "1000000" },
		{ -42, "-42" },
		{ 9007199254740992.0, "9007199254740992" },
		{ 0.1, "0.1" },
		{ 1.5, "1.5" },
		{ -2.25e-7, "-2.25e-07" },
		{ 1e300, "1e+300" },
		{ 1e20, "1e+20" },
		{ 0.30000000000000004, "0.30000000000000004" },
		{ 123456.789, "123456.789" },
		/*
		 * Integral past 2^53: digits alone would read back as an
		 * inexact integer (found by fuzz_yaml).
		 */
		{ 33333333333333333.0, "33333333333333332.0" },
	};
	struct json	*j;
	char		*want;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		j = json_new_object();
		json_set(j, "num", json_new_number(cases[i].d));
		xasprintf(&want, "num: %s\n", cases[i].out);
		emit_check(j, want);
		free(want);
		json_free(j);
	}
}

static void
test_yaml_emit_long_key_explicit(void **state)
{
	struct json	*j, *v;
	char		 key[1201];

	memset(key, 'k', sizeof key - 1);
	key[sizeof key - 1] = '\0';
	j = json_new_object();
	json_set(j, key, json_new_string("v"));
	v = from_json("[1, {\"a\": [2]}]");
	json_set(j, "x", json_new_object());
	json_set(json_get(j, "x"), key, v);
	emit_check(j, NULL);
	json_free(j);
	/* Short, but long once quoted and escaped. */
	memset(key, '"', 600);
	key[600] = '\0';
	j = json_new_object();
	json_set(j, key, json_new_string("v"));
	emit_check(j, NULL);
	json_free(j);
}

static void
test_yaml_emit_round_trip_broad(void **state)
{
	static const char *const trees[] = {
		"{\"a\": {\"b\": {\"c\": {\"d\": [1, [2, [3, {\"e\": "
		"[]}]]]}}}}",
		"[[[[]]], [{}], {\"\": \"\"}, null, true, false, -0.5]",
		"{\"list\": [{\"a\": 1, \"b\": [{\"c\": \"multi\\nline\\n\"}]},"
		" {\"x\": {\"y\": \"z\"}}]}",
		"{\"k: v\": \"- item\", \"#\": \"&anchor\", \"*\": \"!tag\","
		" \"a\\\"b\": \"c'd\", \"\\\\\": \"\\t\"}",
		"{\"unicode\": \"\\u65e5\\u672c\\ud83d\\ude00\","
		" \"ctrl\": \"\\u0001\\u001f\"}",
		"[\"|\", \">\", \"- \", \"? \", \": \", \"-\", \"?\", \":\"]",
		"{\"block in list\": [\"a\\nb\", \"  x\\n\", [\"q\\n\\n\"]]}",
		"[1e-300, 4.9406564584124654e-324, 1.7976931348623157e308,"
		" 123456789012, -9007199254740993]",
	};
	struct json	*j;
	size_t		 i;

	for (i = 0; i < sizeof trees / sizeof trees[0]; i++) {
		j = from_json(trees[i]);
		emit_check(j, NULL);
		json_free(j);
	}
}

/*
 * The tree takes libyaml's text (keys and strings of every style, with
 * anchors and aliases) without changing it; short names are the shared
 * interned copies.
 */
static void
test_yaml_parse_plain_strings_keep_their_text(void **state)
{
	struct yaml_file	*f = NULL;
	const char		*src = "a: 1.10\nb: 2.0\nc: 0x1F\nd: true\n"
				    "e: ~\nf: 12345678901234567890\n";
	const struct json	*r;
	char			*cause = NULL;

	(void)state;
	if (yaml_parse("v.yaml", src, strlen(src), YAML_PLAIN_STRINGS, &f,
	    &cause) == -1)
		fail_msg("%s", cause);
	r = f->docs[0].root;
	/* A version is text: 1.10 is not 1.1, 2.0 not 2. */
	assert_string_equal(json_path_string(r, "a", NULL), "1.10");
	assert_string_equal(json_path_string(r, "b", NULL), "2.0");
	assert_string_equal(json_path_string(r, "c", NULL), "0x1F");
	assert_string_equal(json_path_string(r, "d", NULL), "true");
	assert_int_equal(json_type(json_get(r, "e")), JSON_NULL);
	/* Past a double's precision: text, not an error, in this mode. */
	assert_string_equal(json_path_string(r, "f", NULL),
	    "12345678901234567890");
	yaml_file_free(f);
}

static void
test_yaml_parse_strings_taken_intact(void **state)
{
	struct json	*j, *c;
	char		 want[300];
	char		*p;

	j = parse_one("metadata:\n  name: web\n"
	    "plain: a plain scalar that is well past sixteen bytes long\n"
	    "single: 'it''s quoted'\n"
	    "double: \"tab\\there\"\n"
	    "block: |\n  line one\n  line two\n"
	    "folded: >-\n  folded\n  text\n"
	    "anch: &a anchored text past sixteen bytes\n"
	    "copy: *a\n"
	    "&k keyanchor: 1\n"
	    "nested:\n  *k : 2\n"
	    "list: [x, \"\", 'y', *a]\n"
	    "empty: ''\n"
	    "long-name-that-is-longer-than-sixty-four-bytes-so-not-interned-at-"
	    "all: v\n");
	assert_ptr_equal(json_key(json_get(j, "metadata")),
	    json_intern("metadata", 8));
	assert_string_equal(json_path_string(j, "metadata", "name", NULL),
	    "web");
	assert_string_equal(json_path_string(j, "plain", NULL),
	    "a plain scalar that is well past sixteen bytes long");
	assert_string_equal(json_path_string(j, "single", NULL), "it's quoted");
	assert_string_equal(json_path_string(j, "double", NULL), "tab\there");
	assert_string_equal(json_path_string(j, "block", NULL),
	    "line one\nline two\n");
	assert_string_equal(json_path_string(j, "folded", NULL), "folded text");
	assert_string_equal(json_path_string(j, "anch", NULL),
	    "anchored text past sixteen bytes");
	assert_string_equal(json_path_string(j, "copy", NULL),
	    "anchored text past sixteen bytes");
	assert_ptr_not_equal(json_path_string(j, "copy", NULL),
	    json_path_string(j, "anch", NULL));
	assert_int_equal(json_number(json_get(j, "keyanchor")), 1);
	assert_int_equal(json_number(json_path(j, "nested", "keyanchor",
	    NULL)), 2);
	c = json_get(j, "list");
	assert_int_equal(json_count(c), 4);
	assert_string_equal(json_string(json_array_get(c, 1)), "");
	assert_string_equal(json_string(json_array_get(c, 3)),
	    "anchored text past sixteen bytes");
	assert_string_equal(json_path_string(j, "empty", NULL), "");
	snprintf(want, sizeof want, "%s", "long-name-that-is-longer-than-"
	    "sixty-four-bytes-so-not-interned-at-all");
	assert_string_equal(json_path_string(j, want, NULL), "v");
	p = json_print(j, 0);
	assert_non_null(strstr(p, "\"copy\":\"anchored text past sixteen "
	    "bytes\",\"keyanchor\":1,"));
	free(p);
	json_free(j);
}

/*
 * contrib/github/deploy-service.yml, the workflow users copy: it parses,
 * runs on a version tag, and its step sends deploy-service with the
 * client_payload fields a deploy request reads.
 */
static void
test_yaml_parse_file_contrib_deploy_workflow(void **state)
{
	static const char *const fields[] = { "service: $service",
	    "image: $image", "tag: $tag", "version: $version",
	    "environment: $environment", "\"deploy-service\"",
	    "repos/$INFRA/dispatches" };
	const char		*srcdir = getenv("TEST_SRCDIR"), *run;
	struct yaml_file	*f = NULL;
	struct json		*root, *step;
	char			*path, *cause = NULL;
	size_t			 i;

	(void)state;
	xasprintf(&path, "%s/contrib/github/deploy-service.yml",
	    srcdir != NULL ? srcdir : ".");
	if (yaml_parse_file(path, NULL, YAML_PLAIN_STRINGS, &f, &cause) == -1)
		fail_msg("%s", cause);
	assert_int_equal(f->ndocs, 1);
	root = f->docs[0].root;
	assert_string_equal(json_path_string(root, "name", NULL),
	    "deploy-service");
	assert_non_null(json_path(root, "on", "push", "tags", NULL));
	assert_non_null(json_path(root, "on", "workflow_dispatch", "inputs",
	    "environment", NULL));
	step = json_array_get(json_path(root, "jobs", "dispatch", "steps",
	    NULL), 0);
	assert_non_null(step);
	assert_non_null(json_path_string(step, "env", "GH_TOKEN", NULL));
	run = json_path_string(step, "run", NULL);
	assert_non_null(run);
	for (i = 0; i < sizeof fields / sizeof fields[0]; i++) {
		if (strstr(run, fields[i]) == NULL)
			fail_msg("the step's script lacks '%s'", fields[i]);
	}
	yaml_file_free(f);
	free(path);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_yaml_parse_syntax_error_positioned),
		cmocka_unit_test(test_yaml_parse_file_contrib_deploy_workflow),
		cmocka_unit_test(test_yaml_parse_inexact_numbers_refused),
		cmocka_unit_test(test_yaml_parse_bad_utf8_positioned),
		cmocka_unit_test(test_yaml_parse_duplicate_key_names_both),
		cmocka_unit_test(test_yaml_parse_duplicate_key_big_map_found),
		cmocka_unit_test(test_yaml_parse_non_scalar_key_rejected),
		cmocka_unit_test(test_yaml_parse_undefined_alias_rejected),
		cmocka_unit_test(test_yaml_parse_too_deep_rejected),
		cmocka_unit_test(test_yaml_parse_alias_too_deep_rejected),
		cmocka_unit_test(test_yaml_parse_billion_laughs_bounded),
		cmocka_unit_test(test_yaml_parse_alias_copies_anchor),
		cmocka_unit_test(test_yaml_parse_merge_explicit_keys_win),
		cmocka_unit_test(test_yaml_parse_merge_non_mapping_rejected),
		cmocka_unit_test(test_yaml_parse_nul_in_string_rejected),
		cmocka_unit_test(test_yaml_parse_empty_stream_needs_flag),
		cmocka_unit_test(test_yaml_parse_multi_document_drops_empty),
		cmocka_unit_test(test_yaml_doc_detach_caller_owns),
		cmocka_unit_test(test_yaml_node_position_key_and_value),
		cmocka_unit_test(test_yaml_parse_scalar_resolution_table),
		cmocka_unit_test(test_yaml_parse_ambiguous_plain_warned_and_kept),
		cmocka_unit_test(test_yaml_parse_bool11_flag_reads_booleans),
		cmocka_unit_test(test_yaml_parse_bad_tagged_value_rejected),
		cmocka_unit_test(test_yaml_parse_keys_are_text),
		cmocka_unit_test(test_yaml_parse_json_input_accepted),
		cmocka_unit_test(test_yaml_parse_file_reads_and_names),
		cmocka_unit_test(test_yaml_emit_kubernetes_golden),
		cmocka_unit_test(test_yaml_emit_roots_and_empties),
		cmocka_unit_test(test_yaml_emit_string_quoting_table),
		cmocka_unit_test(test_yaml_emit_literal_blocks_round_trip),
		cmocka_unit_test(test_yaml_emit_numbers_shortest),
		cmocka_unit_test(test_yaml_emit_long_key_explicit),
		cmocka_unit_test(test_yaml_emit_round_trip_broad),
		cmocka_unit_test(test_yaml_parse_strings_taken_intact),
		cmocka_unit_test(test_yaml_parse_plain_strings_keep_their_text),
	};

	return (cmocka_run_group_tests(tests, NULL, NULL));
}
