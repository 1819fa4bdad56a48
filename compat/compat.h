/*
 * compat.h: what some C libraries lack. glibc before 2.38 has no strlcpy.
 */
#ifndef COMPAT_H
#define COMPAT_H

#include <stddef.h>

#ifndef HAVE_STRLCPY
size_t	strlcpy(char *, const char *, size_t);
#endif
#ifndef HAVE_STRLCAT
size_t	strlcat(char *, const char *, size_t);
#endif
#ifndef HAVE_EXPLICIT_BZERO
void	explicit_bzero(void *, size_t);
#endif

#endif /* COMPAT_H */
