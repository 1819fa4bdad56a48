/*
 * fuzz_yaml_edit.c: libFuzzer harness for the byte-preserving edits of
 * version bumps, yaml_edit_set and yaml_edit_image. Input: one byte (even:
 * set, odd: image), one line of fields split at '|' (set: the keys of the
 * path then the value; image: name|newName|newTag|digest, "~" for a field
 * not given), then the YAML text. Checks: no crash, leak or UB; a failure
 * has a cause; an edit that succeeds yields text that parses and holds
 * the new value where it was put (a new tag without a digest leaves no
 * digest); an edit that changes nothing returns the text unchanged.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "gitops.h"
#include "fuzz.h"

#define FUZZ_MAX_FIELDS 8

/* The first document of text, which must parse. */
static struct yaml_file *
fuzz_parse(const char *text, size_t len)
{
	struct yaml_file	*yf = NULL;
	char			*cause = NULL;

	if (yaml_parse("out", text, len, YAML_ALLOW_EMPTY, &yf,
	    &cause) == -1 || yf->ndocs == 0)
		abort();
	return (yf);
}

static int
fuzz_string_is(const struct json *o, const char *key, const char *want)
{
	const char	*s;

	if ((s = json_string(json_get(o, key))) == NULL)
		return (0);
	return (strcmp(s, want) == 0);
}

static void
fuzz_check_set(const char *out, size_t outlen, const char *const *path,
    const char *value)
{
	struct yaml_file	*yf = fuzz_parse(out, outlen);
	const struct json	*o = yf->docs[0].root;
	size_t			 i;

	for (i = 0; path[i + 1] != NULL; i++)
		o = json_get(o, path[i]);
	if (o == NULL || !fuzz_string_is(o, path[i], value))
		abort();
	yaml_file_free(yf);
}

static void
fuzz_check_image(const char *out, size_t outlen, const char *image,
    const char *tag, const char *digest)
{
	struct yaml_file	*yf = fuzz_parse(out, outlen);
	const struct json	*e;

	e = json_child(json_get(yf->docs[0].root, "images"));
	while (e != NULL && !fuzz_string_is(e, "name", image))
		e = json_next(e);
	if (e == NULL)
		abort();
	if (tag != NULL && *tag != '\0' && !fuzz_string_is(e, "newTag", tag))
		abort();
	if (digest != NULL && *digest != '\0' &&
	    !fuzz_string_is(e, "digest", digest))
		abort();
	if (tag != NULL && *tag != '\0' && digest == NULL &&
	    json_get(e, "digest") != NULL)
		abort();
	yaml_file_free(yf);
}

/* "~" is a field not given. */
static const char *
fuzz_field(char *const *fields, size_t n, size_t i)
{
	if (i >= n || strcmp(fields[i], "~") == 0)
		return (NULL);
	return (fields[i]);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char	*text, *nl, *image, *tag, *digest, *new_name;
	char		*line, *p, *fields[FUZZ_MAX_FIELDS + 1];
	char		*out = NULL, *cause = NULL;
	size_t		 textlen, outlen, n = 0;
	int		 rc, changed;

	if (size < 2 || (nl = memchr(data + 1, '\n', size - 1)) == NULL)
		return (0);
	line = xstrndup((const char *)data + 1, nl - (const char *)data - 1);
	text = nl + 1;
	textlen = size - (text - (const char *)data);
	for (p = line; n < FUZZ_MAX_FIELDS; n++) {
		fields[n] = p;
		if ((p = strchr(p, '|')) == NULL) {
			n++;
			break;
		}
		*p++ = '\0';
	}
	if ((data[0] & 1) == 0) {
		if (n < 2) {
			free(line);
			return (0);
		}
		tag = fields[n - 1];	/* the value */
		fields[n - 1] = NULL;
		rc = yaml_edit_set("in", text, textlen,
		    (const char *const *)fields, tag, &out, &outlen, &changed,
		    &cause);
		if (rc == 0)
			fuzz_check_set(out, outlen, (const char *const *)fields,
			    tag);
	} else {
		image = fuzz_field(fields, n, 0);
		new_name = fuzz_field(fields, n, 1);
		tag = fuzz_field(fields, n, 2);
		digest = fuzz_field(fields, n, 3);
		if (image == NULL) {
			free(line);
			return (0);
		}
		rc = yaml_edit_image("in", text, textlen, image, new_name, tag,
		    digest, &out, &outlen, &changed, &cause);
		if (rc == 0)
			fuzz_check_image(out, outlen, image, tag, digest);
	}
	if (rc == -1) {
		if (cause == NULL)
			abort();
	} else if (!changed &&
	    (outlen != textlen || memcmp(out, text, textlen) != 0))
		abort();
	free(out);
	free(cause);
	free(line);
	return (0);
}
