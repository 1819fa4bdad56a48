/*
 * verify.c: whether a commit's signature is good and made by a key the
 * repository's verify_commits lists. SSH signatures are checked as git
 * does with gpg.format=ssh: `ssh-keygen -Y find-principals` names the
 * signer from allowed_signers, then `ssh-keygen -Y verify -n git` checks
 * the signed data (on stdin) against that principal's key. OpenPGP ones
 * go to `gpgv --keyring`, whose status lines say good, bad or unknown.
 *
 * Runs in the thread that syncs an app (a CLI command, a daemon worker);
 * keeps no state. The signature and the data come from a repository and
 * are untrusted: they reach the tools as a file and on stdin, never in an
 * argv or a shell, and only our files (allowed_signers, the keyring) say
 * which keys count. Never treats a tool that cannot run as a good result.
 */
#include "config.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitops.h"

/* ssh-keygen and gpgv check locally: seconds are plenty. */
#define VERIFY_TIMEOUT_MS 10000
/* An allowed signers file is a short text; a keyring a few keys. */
#define VERIFY_MAX_SIGNERS_FILE (1024 * 1024)
/* Principals find-principals may name for one key. */
#define VERIFY_MAX_PRINCIPALS 16

#define SSH_SIG_HEADER "-----BEGIN SSH SIGNATURE-----"
#define PGP_SIG_HEADER "-----BEGIN PGP SIGNATURE-----"

/* The first line of a tool's message (allocated), for a cause. */
static char *
verify_first_line(const char *s)
{
	size_t len;

	if (s == NULL)
		return (xstrdup(""));
	while (*s == '\n' || *s == '\r')
		s++;
	len = strcspn(s, "\r\n");
	return (xstrndup(s, len));
}

/* Run a local checking tool on the signed data, within its deadline. */
static int
verify_run(char **argv, const char *package, const char *data, size_t datalen,
    struct spawn_result *sr, char **cause)
{
	struct spawn_opts so;
	char *path, *err = NULL;

	if ((path = spawn_find_program(argv[0])) == NULL) {
		xasprintf(cause, "%s is not installed (Debian package %s)",
		    argv[0], package);
		return (-1);
	}
	free(path);
	memset(&so, 0, sizeof so);
	so.timeout_ms = VERIFY_TIMEOUT_MS;
	so.max_output = 64 * 1024;
	so.input = data;
	so.inputlen = datalen;
	if (spawn_run(argv, &so, sr, &err) == -1) {
		xasprintf(cause, "cannot run %s: %s", argv[0], err);
		free(err);
		return (-1);
	}
	if (sr->timed_out) {
		xasprintf(cause, "%s did not finish within %d s", argv[0],
		    VERIFY_TIMEOUT_MS / 1000);
		spawn_result_free(sr);
		return (-1);
	}
	return (0);
}

/* The signature in a temporary file (the tools read it by name). */
static char *
verify_sig_file(const char *sig, char **cause)
{
	const char *tmp = getenv("TMPDIR");
	char *base, *path = NULL;

	if (tmp == NULL || *tmp == '\0')
		tmp = "/tmp";
	xasprintf(&base, "%s/gitops-signature", tmp);
	if (file_write_temp(base, sig, strlen(sig), 0600, &path, cause) == -1)
		path = NULL;
	free(base);
	return (path);
}

/* Who made a good SSH signature: "P with ED25519 key SHA256:...". */
static char *
verify_ssh_signer(const char *out, const char *principal)
{
	const char *p;

	if ((p = strstr(out, "signature for ")) != NULL)
		return (verify_first_line(p + strlen("signature for ")));
	return (xstrdup(principal));
}

/* "ED25519 key SHA256:..." of a signature by an unlisted key, or NULL. */
static char *
verify_ssh_key(const char *sigfile, const char *data, size_t datalen)
{
	struct spawn_result sr;
	const char *p;
	char *argv[] = {(char *)"ssh-keygen", (char *)"-Y",
	    (char *)"check-novalidate", (char *)"-n", (char *)"git",
	    (char *)"-s", (char *)sigfile, NULL};
	char *err = NULL, *key = NULL;

	if (verify_run(argv, "openssh-client", data, datalen, &sr, &err) ==
	    -1) {
		free(err);
		return (NULL);
	}
	if (sr.exited && sr.status == 0 &&
	    (p = strstr(sr.out, " with ")) != NULL)
		key = verify_first_line(p + strlen(" with "));
	spawn_result_free(&sr);
	return (key);
}

static int
verify_ssh(const char *signers, const char *sigfile, const char *data,
    size_t datalen, char **signer, char **cause)
{
	struct spawn_result sr;
	struct strv principals;
	char *find[] = {(char *)"ssh-keygen", (char *)"-Y",
	    (char *)"find-principals", (char *)"-s", (char *)sigfile,
	    (char *)"-f", (char *)signers, NULL};
	char *check[] = {(char *)"ssh-keygen", (char *)"-Y", (char *)"verify",
	    (char *)"-f", (char *)signers, (char *)"-I", NULL, (char *)"-n",
	    (char *)"git", (char *)"-s", (char *)sigfile, NULL};
	char *line, *p, *key, *why = NULL;
	size_t i;
	int rc = -1;

	memset(&principals, 0, sizeof principals);
	if (verify_run(find, "openssh-client", NULL, 0, &sr, cause) == -1)
		return (-1);
	if (!sr.exited || sr.status != 0) {
		line = verify_first_line(sr.err);
		if (strncmp(line, signers, strlen(signers)) == 0 &&
		    line[strlen(signers)] == ':')
			/* "FILE:LINE: key has expired...": listed, not now. */
			xasprintf(
			    cause, "its key is not allowed now: %s", line);
		else if (strncmp(line, "No principal matched", 20) == 0) {
			key = verify_ssh_key(sigfile, data, datalen);
			xasprintf(cause,
			    "it is signed by a key not in "
			    "allowed_signers '%s'%s%s",
			    signers, key != NULL ? ": " : "",
			    key != NULL ? key : "");
			free(key);
		} else
			xasprintf(cause, "bad signature: %s", line);
		free(line);
		spawn_result_free(&sr);
		return (-1);
	}
	for (p = sr.out; *p != '\0' && principals.n < VERIFY_MAX_PRINCIPALS;
	     p += strcspn(p, "\n")) {
		p += strspn(p, "\n");
		line = verify_first_line(p);
		if (*line != '\0')
			strv_add(&principals, line);
		free(line);
	}
	spawn_result_free(&sr);
	/* As git does: the first principal the signature verifies for. */
	for (i = 0; i < principals.n && rc == -1; i++) {
		check[6] = principals.v[i];
		free(why);
		why = NULL;
		if (verify_run(check, "openssh-client", data, datalen, &sr,
			&why) == -1)
			break;
		if (sr.exited && sr.status == 0) {
			*signer = verify_ssh_signer(sr.out, principals.v[i]);
			rc = 0;
		} else {
			line = verify_first_line(sr.err);
			xasprintf(&why, "bad signature: %s", line);
			free(line);
		}
		spawn_result_free(&sr);
	}
	if (rc == -1) {
		if (why == NULL)
			xasprintf(&why, "bad signature: no principal in '%s'",
			    signers);
		*cause = why;
	} else
		free(why);
	strv_free(&principals);
	return (rc);
}

/*
 * gpgv's verdict from its status lines (--status-fd 1): good only with
 * GOODSIG and VALIDSIG and nothing bad. *signer or *cause.
 */
static int
verify_gpg_status(const char *out, int exit_ok, const char *keyring,
    char **signer, char **cause)
{
	const char *p, *good = NULL, *valid = NULL, *nokey = NULL;
	const char *bad = NULL, *err = NULL;
	char *who = NULL, *fpr = NULL;

	for (p = out; *p != '\0'; p += strcspn(p, "\n"), p += *p == '\n') {
		if (strncmp(p, "[GNUPG:] ", 9) != 0)
			continue;
		p += 9;
		if (strncmp(p, "GOODSIG ", 8) == 0)
			good = p + 8;
		else if (strncmp(p, "VALIDSIG ", 9) == 0)
			valid = p + 9;
		else if (strncmp(p, "NO_PUBKEY ", 10) == 0)
			nokey = p + 10;
		else if (strncmp(p, "BADSIG ", 7) == 0 ||
		    strncmp(p, "EXPSIG ", 7) == 0 ||
		    strncmp(p, "EXPKEYSIG ", 10) == 0 ||
		    strncmp(p, "REVKEYSIG ", 10) == 0)
			bad = p;
		else if (strncmp(p, "ERRSIG ", 7) == 0)
			err = p + 7;
	}
	if (exit_ok && good != NULL && valid != NULL && bad == NULL &&
	    nokey == NULL && err == NULL) {
		/* "KEYID User ID" and "FINGERPRINT date ...". */
		who = verify_first_line(good + strcspn(good, " \n"));
		fpr = verify_first_line(valid);
		fpr[strcspn(fpr, " ")] = '\0';
		xasprintf(signer, "%s (key %s)", who + strspn(who, " "), fpr);
		free(who);
		free(fpr);
		return (0);
	}
	if (nokey != NULL) {
		fpr = verify_first_line(nokey);
		xasprintf(cause,
		    "it is signed by a key not in keyring '%s': "
		    "OpenPGP key %s",
		    keyring, fpr);
	} else if (bad != NULL) {
		fpr = verify_first_line(bad);
		fpr[strcspn(fpr, " ")] = '\0';
		xasprintf(cause, "bad signature: gpgv says %s", fpr);
	} else if (err != NULL)
		xasprintf(cause, "bad signature: gpgv cannot check it");
	else
		xasprintf(cause, "bad signature: gpgv did not find a good one");
	free(fpr);
	return (-1);
}

static int
verify_gpg(const char *keyring, const char *sigfile, const char *data,
    size_t datalen, char **signer, char **cause)
{
	struct spawn_result sr;
	char *argv[] = {(char *)"gpgv", (char *)"--keyring", NULL,
	    (char *)"--status-fd", (char *)"1", (char *)"--", (char *)sigfile,
	    (char *)"-", NULL};
	char *ring;
	int rc = -1;

	/* Without a '/', gpgv would look for the keyring in ~/.gnupg. */
	if (strchr(keyring, '/') == NULL)
		xasprintf(&ring, "./%s", keyring);
	else
		ring = xstrdup(keyring);
	argv[2] = ring;
	if (verify_run(argv, "gpgv", data, datalen, &sr, cause) == 0) {
		rc = verify_gpg_status(sr.out, sr.exited && sr.status == 0,
		    keyring, signer, cause);
		spawn_result_free(&sr);
	}
	free(ring);
	return (rc);
}

int
verify_signature(const struct config_verify *keys, const char *sig,
    size_t siglen, const char *data, size_t datalen, char **signer,
    char **cause)
{
	const char *file = NULL;
	char *sigfile = NULL, *err = NULL;
	int ssh, rc = -1;

	*signer = NULL;
	if (sig == NULL) {
		xasprintf(cause, "it is not signed");
		return (-1);
	}
	if (siglen != strlen(sig)) {
		xasprintf(cause, "bad signature: it holds a NUL byte");
		return (-1);
	}
	ssh = strncmp(sig, SSH_SIG_HEADER, strlen(SSH_SIG_HEADER)) == 0;
	if (!ssh && strncmp(sig, PGP_SIG_HEADER, strlen(PGP_SIG_HEADER)) != 0) {
		xasprintf(cause, "its signature is neither SSH nor OpenPGP");
		return (-1);
	}
	if ((file = ssh ? keys->allowed_signers : keys->keyring) == NULL) {
		xasprintf(cause,
		    "it has an %s signature, and verify_commits "
		    "sets no '%s'",
		    ssh ? "SSH" : "OpenPGP",
		    ssh ? "allowed_signers" : "keyring");
		return (-1);
	}
	if ((sigfile = verify_sig_file(sig, &err)) == NULL) {
		xasprintf(cause, "cannot check its signature: %s", err);
		free(err);
		return (-1);
	}
	if (ssh)
		rc = verify_ssh(file, sigfile, data, datalen, signer, cause);
	else
		rc = verify_gpg(file, sigfile, data, datalen, signer, cause);
	unlink(sigfile);
	free(sigfile);
	return (rc);
}

/* An allowed signers file lists a key: a line that is not a comment. */
static int
verify_signers_listed(const char *data)
{
	const char *p = data;

	while (*p != '\0') {
		p += strspn(p, " \t\r\n");
		if (*p != '\0' && *p != '#')
			return (1);
		p += strcspn(p, "\n");
	}
	return (0);
}

int
verify_check_files(const struct config_verify *keys, char **cause)
{
	struct stat st;
	char *data = NULL, *err = NULL, *gpgv;
	size_t len;

	if (keys->allowed_signers != NULL) {
		if (file_read(keys->allowed_signers, VERIFY_MAX_SIGNERS_FILE,
			&data, &len, &err) == -1) {
			xasprintf(cause, "allowed_signers: %s", err);
			free(err);
			return (-1);
		}
		if (!verify_signers_listed(data)) {
			xasprintf(cause, "allowed_signers '%s' lists no key",
			    keys->allowed_signers);
			free(data);
			return (-1);
		}
		free(data);
	}
	if (keys->keyring != NULL) {
		if (stat(keys->keyring, &st) == -1) {
			xasprintf(cause, "keyring '%s': %s", keys->keyring,
			    strerror(errno));
			return (-1);
		}
		if (!S_ISREG(st.st_mode) || st.st_size == 0) {
			xasprintf(cause, "keyring '%s' is %s", keys->keyring,
			    S_ISREG(st.st_mode) ? "empty" : "not a file");
			return (-1);
		}
		if ((gpgv = spawn_find_program("gpgv")) == NULL) {
			xasprintf(cause,
			    "keyring '%s' needs gpgv, which is "
			    "not installed (Debian package gpgv)",
			    keys->keyring);
			return (-1);
		}
		free(gpgv);
	}
	return (0);
}
