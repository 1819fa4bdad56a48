/*
 * strlcpy.c: bounded string copies for C libraries without them.
 */
#include "config.h"

#include <string.h>

#include "compat.h"

#ifndef HAVE_STRLCPY
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t	len = strlen(src);

	if (size != 0) {
		size_t n = len >= size ? size - 1 : len;

		memcpy(dst, src, n);
		dst[n] = '\0';
	}
	return (len);
}
#endif

#ifndef HAVE_STRLCAT
size_t
strlcat(char *dst, const char *src, size_t size)
{
	size_t	dlen = strnlen(dst, size);

	if (dlen == size)
		return (size + strlen(src));
	return (dlen + strlcpy(dst + dlen, src, size - dlen));
}
#endif

#ifndef HAVE_EXPLICIT_BZERO
void
explicit_bzero(void *p, size_t n)
{
	volatile unsigned char *v = p;

	while (n-- != 0)
		*v++ = 0;
}
#endif
