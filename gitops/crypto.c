/*
 * crypto.c: the only user of OpenSSL's libcrypto in gitops/: digests and
 * constant-time comparison.
 *
 * Thread-safe. Never logs what it hashes or compares.
 */
#include "config.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

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
sha256(const void *data, size_t len, unsigned char out[32])
{
	unsigned char	 md[EVP_MAX_MD_SIZE];
	unsigned int	 mdlen = 0;

	if (EVP_Digest(data, len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
	    mdlen != 32)
		fatalx("sha256: EVP_Digest failed");
	memcpy(out, md, 32);
}

void
sha256_hex(const void *data, size_t len, char out[65])
{
	static const char	 hex[] = "0123456789abcdef";
	unsigned char		 md[32];
	size_t			 i;

	sha256(data, len, md);
	for (i = 0; i < sizeof md; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 0xf];
	}
	out[64] = '\0';
}

void
hmac_sha1(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[20])
{
	unsigned int	outlen = 20;

	if (HMAC(EVP_sha1(), key, (int)keylen, data, len, out,
	    &outlen) == NULL || outlen != 20)
		fatalx("hmac_sha1: HMAC failed");
}

void
hmac_sha256(const void *key, size_t keylen, const void *data, size_t len,
    unsigned char out[32])
{
	unsigned int	outlen = 32;

	if (HMAC(EVP_sha256(), key, (int)keylen, data, len, out,
	    &outlen) == NULL || outlen != 32)
		fatalx("hmac_sha256: HMAC failed");
}

int
base64_decode(const char *in, size_t len, unsigned char **out,
    size_t *outlen)
{
	unsigned char	*buf;
	char		*padded;
	size_t		 plen, pad = 0;
	int		 n;

	*out = NULL;
	*outlen = 0;
	if (len > (1 << 20))
		return (-1);
	/* EVP_DecodeBlock wants whole quanta: restore missing padding. */
	plen = len + (4 - len % 4) % 4;
	padded = xmalloc(plen + 1);
	memcpy(padded, in, len);
	memset(padded + len, '=', plen - len);
	padded[plen] = '\0';
	if (plen >= 1 && padded[plen - 1] == '=')
		pad++;
	if (plen >= 2 && padded[plen - 2] == '=')
		pad++;
	buf = xmalloc(plen / 4 * 3 + 1);
	n = EVP_DecodeBlock(buf, (const unsigned char *)padded, (int)plen);
	free(padded);
	if (n < 0 || (size_t)n < pad) {
		free(buf);
		return (-1);
	}
	*out = buf;
	*outlen = (size_t)n - pad;
	return (0);
}

char *
base64_encode(const void *in, size_t len)
{
	char	*out = xmalloc((len + 2) / 3 * 4 + 1);

	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
	return (out);
}
