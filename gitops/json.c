/*
 * json.c: the document tree, and the only file that touches cJSON.
 *
 * struct json is cJSON under another name, so swapping the library means
 * rewriting this file alone. Thread-safe as long as one tree is not shared
 * between threads while being changed. Never aborts on bad input: parse
 * errors go back in cause.
 *
 * Short member names and short string values are interned: one copy per
 * distinct text, shared by every tree and every thread and never freed,
 * held in fixed tables (JSON_INTERN_MAX entries, JSON_INTERN_POOL bytes of
 * text each) so that a long-running process fed endless distinct keys
 * cannot grow them: past the cap, text is allocated per node as before.
 * cJSON knows an interned name by cJSON_StringIsConst (never freed, copied
 * by pointer in cJSON_Duplicate: fine, it lives as long as the process)
 * and an interned value by cJSON_IsReference (never freed, copied by
 * cJSON_Duplicate). Nothing may write into a node's text in place
 * (cJSON_SetValuestring is not used).
 */
#include "config.h"

#include <cjson/cJSON.h>

#include <math.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "gitops.h"

#define C(j)	((cJSON *)(j))
#define CC(j)	((const cJSON *)(j))
#define J(c)	((struct json *)(c))

static void *
json_malloc_cb(size_t size)
{
	return (xmalloc(size));
}

/*
 * cJSON keeps its hooks in a global: set them once, when the program
 * (or library) is loaded, before any thread of ours can build a tree.
 */
static void
json_init(void)
{
	static int	done;
	cJSON_Hooks	hooks = { json_malloc_cb, free };

	if (!done) {
		cJSON_InitHooks(&hooks);
		done = 1;
	}
}

__attribute__((constructor)) static void
json_constructor(void)
{
	json_init();
}

/*
 * Intern tables: open addressing over slots that only ever go from NULL to
 * a string (published by compare-and-swap), text bump-allocated from a
 * static pool, so lookups take no lock and nothing is ever freed. Names
 * and values have a table each, so that values (which vary more) cannot
 * crowd names out.
 */
#define JSON_INTERN_SLOTS	4096	/* a power of two */
#define JSON_INTERN_MAX		2048	/* entries: half the slots */
#define JSON_INTERN_POOL	(32 * 1024)

struct json_intern_table {
	_Atomic(const char *)	 slots[JSON_INTERN_SLOTS];
	char			 pool[JSON_INTERN_POOL];
	atomic_size_t		 used;		/* pool bytes */
	atomic_size_t		 count;		/* entries */
	atomic_int		 full;		/* nothing more fits */
};
static struct json_intern_table	json_keys, json_values;

/* Eight bytes a step: names and values are short. */
static size_t
json_intern_hash(const char *s, size_t len)
{
	const uint64_t	k = 0x9e3779b97f4a7c15ULL;
	uint64_t	h = len * k, w;

	for (; len >= 8; s += 8, len -= 8) {
		memcpy(&w, s, 8);
		h = (h ^ w) * k;
		h ^= h >> 32;
	}
	w = 0;
	memcpy(&w, s, len);
	h = (h ^ w) * k;
	h ^= h >> 29;
	return ((size_t)h);
}

/* Take an entry and pool space for len + 1 bytes; NULL when full. */
static char *
json_intern_reserve(struct json_intern_table *t, size_t len)
{
	size_t	off;

	/* Read first: a full table is then asked without writes. */
	if (atomic_load_explicit(&t->full, memory_order_relaxed))
		return (NULL);
	if (atomic_fetch_add(&t->count, 1) >= JSON_INTERN_MAX) {
		atomic_fetch_sub(&t->count, 1);
		atomic_store(&t->full, 1);
		return (NULL);
	}
	off = atomic_fetch_add(&t->used, len + 1);
	if (off > JSON_INTERN_POOL || JSON_INTERN_POOL - off < len + 1) {
		/* The pool stays marked used: it is full for good. */
		atomic_fetch_sub(&t->count, 1);
		atomic_store(&t->full, 1);
		return (NULL);
	}
	return (t->pool + off);
}

/* s holds no NUL in its len bytes. */
static const char *
json_intern_in(struct json_intern_table *t, const char *s, size_t len)
{
	const char	*p, *expect;
	char		*copy = NULL;
	size_t		 i, n;

	i = json_intern_hash(s, len) & (JSON_INTERN_SLOTS - 1);
	for (n = 0; n < JSON_INTERN_SLOTS; n++) {
		p = atomic_load_explicit(&t->slots[i], memory_order_acquire);
		if (p == NULL) {
			if (copy == NULL) {
				if ((copy = json_intern_reserve(t, len)) ==
				    NULL)
					return (NULL);
				memcpy(copy, s, len);
				copy[len] = '\0';
			}
			expect = NULL;
			if (atomic_compare_exchange_strong_explicit(
			    &t->slots[i], &expect, copy,
			    memory_order_acq_rel, memory_order_acquire))
				return (copy);
			/* Another thread took the slot first. */
			p = expect;
		}
		/*
		 * strncmp stops at p's end: p[len] is read only when p is
		 * at least as long (a shorter p may end the pool).
		 */
		if (strncmp(p, s, len) == 0 && p[len] == '\0') {
			/* A lost race leaves copy's bytes unused: bounded. */
			if (copy != NULL)
				atomic_fetch_sub(&t->count, 1);
			return (p);
		}
		i = (i + 1) & (JSON_INTERN_SLOTS - 1);
	}
	if (copy != NULL)
		atomic_fetch_sub(&t->count, 1);
	return (NULL);
}

const char *
json_intern(const char *s, size_t len)
{
	if (len > JSON_INTERN_MAX_LEN || memchr(s, '\0', len) != NULL)
		return (NULL);
	return (json_intern_in(&json_keys, s, len));
}

const char *
json_intern_value(const char *s, size_t len)
{
	if (len > JSON_INTERN_VALUE_MAX_LEN || memchr(s, '\0', len) != NULL)
		return (NULL);
	return (json_intern_in(&json_values, s, len));
}

size_t
json_intern_count_get(int values)
{
	return (atomic_load(values ? &json_values.count : &json_keys.count));
}

/*
 * A string node holding an interned value: cJSON_IsReference tells
 * cJSON_Delete to leave the text alone, and cJSON_Duplicate to copy it
 * (its copy is then a plain string node).
 */
static cJSON *
json_string_interned(const char *in)
{
	cJSON	*c = cJSON_CreateNull();

	c->type = cJSON_String | cJSON_IsReference;
	c->valuestring = (char *)in;
	return (c);
}

/* Give the member an interned name, or the allocated one key (taken). */
static void
json_member_add(cJSON *obj, const char *ckey, char *key, cJSON *value)
{
	const char	*name = ckey != NULL ? ckey : key;
	const char	*in;
	size_t		 len;

	if (obj == NULL || value == NULL) {
		free(key);
		return;
	}
	if ((len = strlen(name)) <= JSON_INTERN_MAX_LEN &&
	    (in = json_intern_in(&json_keys, name, len)) != NULL) {
		free(key);
		cJSON_AddItemToObjectCS(obj, in, value);
		return;
	}
	if (key == NULL) {
		cJSON_AddItemToObject(obj, ckey, value);
		return;
	}
	if ((value->type & cJSON_StringIsConst) == 0)
		free(value->string);
	value->string = key;
	value->type &= ~cJSON_StringIsConst;
	cJSON_AddItemToArray(obj, value);
}

struct json *
json_new_object(void)
{
	return (J(cJSON_CreateObject()));
}

struct json *
json_new_array(void)
{
	return (J(cJSON_CreateArray()));
}

/*
 * Strings are valid UTF-8 whatever they came from (a hook's output, a
 * header, a file): a byte that is not is replaced by U+FFFD, so what the
 * agent prints is always valid JSON.
 */
struct json *
json_new_string(const char *s)
{
	const char	*in;
	size_t		 len = strlen(s);

	if (!utf8_valid(s, len))
		return (json_new_string_owned(utf8_repair(s, len)));
	if (len <= JSON_INTERN_VALUE_MAX_LEN &&
	    (in = json_intern_in(&json_values, s, len)) != NULL)
		return (J(json_string_interned(in)));
	return (J(cJSON_CreateString(s)));
}

struct json *
json_new_stringn(const char *s, size_t n)
{
	return (json_new_string_owned(xstrndup(s, n)));
}

struct json *
json_new_string_owned(char *s)
{
	cJSON		*c;
	const char	*in;
	char		*fixed;
	size_t		 len = strlen(s);

	if (!utf8_valid(s, len)) {
		fixed = utf8_repair(s, len);
		free(s);
		s = fixed;
		len = strlen(s);
	}
	if (len <= JSON_INTERN_VALUE_MAX_LEN &&
	    (in = json_intern_in(&json_values, s, len)) != NULL) {
		free(s);
		return (J(json_string_interned(in)));
	}
	c = cJSON_CreateNull();
	c->type = cJSON_String;
	c->valuestring = s;
	return (J(c));
}

struct json *
json_new_number(double d)
{
	return (J(cJSON_CreateNumber(d)));
}

struct json *
json_new_bool(int b)
{
	return (J(cJSON_CreateBool(b)));
}

struct json *
json_new_null(void)
{
	return (J(cJSON_CreateNull()));
}

void
json_free(struct json *j)
{
	cJSON_Delete(C(j));
}

struct json *
json_dup(const struct json *j)
{
	if (j == NULL)
		return (NULL);
	return (J(cJSON_Duplicate(CC(j), 1)));
}

enum json_type
json_type(const struct json *j)
{
	const cJSON	*c = CC(j);

	if (c == NULL)
		return (JSON_INVALID);
	switch (c->type & 0xff) {
	case cJSON_NULL:
		return (JSON_NULL);
	case cJSON_False:
		return (JSON_FALSE);
	case cJSON_True:
		return (JSON_TRUE);
	case cJSON_Number:
		return (JSON_NUMBER);
	case cJSON_String:
		return (JSON_STRING);
	case cJSON_Array:
		return (JSON_ARRAY);
	case cJSON_Object:
		return (JSON_OBJECT);
	default:
		return (JSON_INVALID);
	}
}

const char *
json_type_name(enum json_type t)
{
	switch (t) {
	case JSON_NULL:
		return ("null");
	case JSON_FALSE:
	case JSON_TRUE:
		return ("boolean");
	case JSON_NUMBER:
		return ("number");
	case JSON_STRING:
		return ("string");
	case JSON_ARRAY:
		return ("list");
	case JSON_OBJECT:
		return ("mapping");
	default:
		return ("invalid");
	}
}

/* "a list", "null": for "must be a mapping, not ..." messages. */
const char *
json_type_phrase(const struct json *j)
{
	switch (json_type(j)) {
	case JSON_NULL:
		return ("null");
	case JSON_FALSE:
	case JSON_TRUE:
		return ("a boolean");
	case JSON_NUMBER:
		return ("a number");
	case JSON_STRING:
		return ("a string");
	case JSON_ARRAY:
		return ("a list");
	case JSON_OBJECT:
		return ("a mapping");
	default:
		return ("invalid");
	}
}

const char *
json_string(const struct json *j)
{
	if (json_type(j) != JSON_STRING)
		return (NULL);
	return (CC(j)->valuestring);
}

double
json_number(const struct json *j)
{
	if (json_type(j) != JSON_NUMBER)
		return (0);
	return (CC(j)->valuedouble);
}

int
json_is_true(const struct json *j)
{
	return (json_type(j) == JSON_TRUE);
}

struct json *
json_child(const struct json *j)
{
	if (j == NULL)
		return (NULL);
	return (J(CC(j)->child));
}

struct json *
json_next(const struct json *j)
{
	if (j == NULL)
		return (NULL);
	return (J(CC(j)->next));
}

const char *
json_key(const struct json *j)
{
	if (j == NULL)
		return (NULL);
	return (CC(j)->string);
}

size_t
json_count(const struct json *j)
{
	const cJSON	*c;
	size_t		 n = 0;

	if (j == NULL)
		return (0);
	for (c = CC(j)->child; c != NULL; c = c->next)
		n++;
	return (n);
}

struct json *
json_array_get(const struct json *j, size_t i)
{
	const cJSON	*c;

	if (json_type(j) != JSON_ARRAY)
		return (NULL);
	for (c = CC(j)->child; c != NULL && i != 0; c = c->next)
		i--;
	return (J(c));
}

void
json_array_append(struct json *j, struct json *item)
{
	cJSON_AddItemToArray(C(j), C(item));
}

struct json *
json_get(const struct json *j, const char *key)
{
	const cJSON	*c;

	if (json_type(j) != JSON_OBJECT)
		return (NULL);
	for (c = CC(j)->child; c != NULL; c = c->next) {
		if (c->string != NULL && strcmp(c->string, key) == 0)
			return (J(c));
	}
	return (NULL);
}

static struct json *
json_vpath(const struct json *j, va_list ap)
{
	const char	*key;

	while (j != NULL && (key = va_arg(ap, const char *)) != NULL)
		j = json_get(j, key);
	return ((struct json *)j);
}

struct json *
json_path(const struct json *j, ...)
{
	va_list		 ap;
	struct json	*r;

	va_start(ap, j);
	r = json_vpath(j, ap);
	va_end(ap);
	return (r);
}

const char *
json_path_string(const struct json *j, ...)
{
	va_list		 ap;
	struct json	*r;

	va_start(ap, j);
	r = json_vpath(j, ap);
	va_end(ap);
	return (json_string(r));
}

void
json_set(struct json *j, const char *key, struct json *value)
{
	if (json_get(j, key) != NULL)
		cJSON_ReplaceItemInObjectCaseSensitive(C(j), key, C(value));
	else
		cJSON_AddItemToObject(C(j), key, C(value));
}

void
json_append_member(struct json *j, const char *key, struct json *value)
{
	json_member_add(C(j), key, NULL, C(value));
}

void
json_append_member_owned(struct json *j, char *key, struct json *value)
{
	json_member_add(C(j), NULL, key, C(value));
}

void
json_remove(struct json *j, const char *key)
{
	cJSON_DeleteItemFromObjectCaseSensitive(C(j), key);
}

struct json *
json_detach(struct json *j, const char *key)
{
	return (J(cJSON_DetachItemFromObjectCaseSensitive(C(j), key)));
}

int
json_equal(const struct json *a, const struct json *b)
{
	if (a == NULL || b == NULL)
		return (a == b);
	return (cJSON_Compare(CC(a), CC(b), 1));
}

/*
 * Whether every object in the tree has distinct member names. cJSON keeps
 * duplicates, and then a lookup sees the first where other readers see
 * the last, and a tree is not even equal to itself.
 */
#define JSON_UNIQUE_LINEAR	16	/* members checked pairwise */
static int
json_keys_unique(const cJSON *c)
{
	const cJSON	*m, *o;
	struct strmap	*seen = NULL;
	size_t		 n = 0;
	int		 ok = 1;

	for (m = c->child; m != NULL && ok; m = m->next) {
		if (!json_keys_unique(m))
			ok = 0;
		else if (!cJSON_IsObject(c))
			continue;
		else if (n++ < JSON_UNIQUE_LINEAR) {
			for (o = c->child; o != m && ok; o = o->next)
				ok = strcmp(o->string, m->string) != 0;
		} else {
			if (seen == NULL) {
				seen = strmap_new(2 * JSON_UNIQUE_LINEAR);
				for (o = c->child; o != m; o = o->next)
					strmap_put(seen, o->string, (void *)o);
			}
			ok = strmap_put(seen, m->string, (void *)m) == NULL;
		}
	}
	strmap_free(seen);
	return (ok);
}

/*
 * Whether every number in the tree is finite. cJSON reads a number past a
 * double's range (1e309) as infinity, which it prints as null: the text
 * written back would not say what was read.
 */
static int
json_numbers_finite(const cJSON *c)
{
	const cJSON	*m;

	if (cJSON_IsNumber(c) && !isfinite(c->valuedouble))
		return (0);
	for (m = c->child; m != NULL; m = m->next) {
		if (!json_numbers_finite(m))
			return (0);
	}
	return (1);
}

struct json *
json_parse(const char *text, size_t len, char **cause)
{
	const char	*end = NULL, *p;
	cJSON		*c;
	int		 line = 1, column = 1;

	c = cJSON_ParseWithLengthOpts(text, len, &end, 0);
	if (c != NULL && !json_keys_unique(c)) {
		cJSON_Delete(c);
		xasprintf(cause, "invalid JSON: an object has a key twice");
		return (NULL);
	}
	if (c != NULL && !json_numbers_finite(c)) {
		cJSON_Delete(c);
		xasprintf(cause, "invalid JSON: a number out of range");
		return (NULL);
	}
	if (c != NULL)
		return (J(c));
	if (end == NULL || end < text || end > text + len)
		end = text;
	for (p = text; p < end; p++) {
		if (*p == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)*p & 0xc0) != 0x80)
			column++;
	}
	xasprintf(cause, "line %d column %d: invalid JSON", line, column);
	return (NULL);
}

char *
json_print(const struct json *j, int pretty)
{
	struct buf	 b;
	char		*s, *p;
	int		 indent = 1;

	s = pretty ? cJSON_Print(CC(j)) : cJSON_PrintUnformatted(CC(j));
	if (s == NULL)
		fatalx("json_print: out of memory");
	if (!pretty)
		return (s);
	/*
	 * cJSON indents with tabs and puts one after a key's colon; we print
	 * two spaces a level, and a space there. A string holds no raw tab
	 * (it is escaped), so every tab is layout.
	 */
	buf_init(&b);
	for (p = s; *p != '\0'; p++) {
		if (*p == '\t')
			buf_add(&b, indent ? "  " : " ", indent ? 2 : 1);
		else
			buf_addc(&b, *p);
		indent = *p == '\n' || (indent && *p == '\t');
	}
	free(s);
	return (buf_release(&b));
}
