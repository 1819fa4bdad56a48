/*
 * crypto.c: the only user of OpenSSL's libcrypto in gitops/: digests and
 * constant-time comparison.
 *
 * Thread-safe. Never logs what it hashes or compares.
 */
#include "config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <string.h>

#include "gitops.h"

int
timingsafe_equal(const void *a, size_t alen, const void *b, size_t blen)
{
	if (alen != blen)
		return (0);
	if (alen == 0)
		return (1);
	return (CRYPTO_memcmp(a, b, alen) == 0);
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[EVP_MAX_MD_SIZE];
	unsigned int		 mdlen = 0, i;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1)
		fatalx("sha256_hex: EVP_Digest failed");
	for (i = 0; i < mdlen && i < 32; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}
