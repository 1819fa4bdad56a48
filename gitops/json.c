/*
 * json.c: the document tree, and the only file that touches cJSON.
 *
 * struct json is cJSON under another name, so swapping the library means
 * rewriting this file alone. Thread-safe as long as one tree is not shared
 * between threads while being changed. Never aborts on bad input: parse
 * errors go back in cause.
 */
#include "config.h"

#include <cjson/cJSON.h>

#include <stdarg.h>
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

struct json *
json_new_string(const char *s)
{
	return (J(cJSON_CreateString(s)));
}

struct json *
json_new_stringn(const char *s, size_t n)
{
	cJSON	*c;
	char	*copy = xstrndup(s, n);

	c = cJSON_CreateString(copy);
	free(copy);
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
	cJSON_AddItemToObject(C(j), key, C(value));
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

struct json *
json_parse(const char *text, size_t len, char **cause)
{
	const char	*end = NULL, *p;
	cJSON		*c;
	int		 line = 1, column = 1;

	c = cJSON_ParseWithLengthOpts(text, len, &end, 0);
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
	char	*s;

	s = pretty ? cJSON_Print(CC(j)) : cJSON_PrintUnformatted(CC(j));
	if (s == NULL)
		fatalx("json_print: out of memory");
	return (s);
}
