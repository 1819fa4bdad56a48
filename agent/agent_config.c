/*
 * agent_config.c: the daemon's configuration as its jobs see it, a loaded
 * file and the secrets it names (webhook secrets, the API token), read
 * once and shared by reference count between the loop and the jobs that
 * started under it. A reload loads a new one while jobs may still hold
 * the old; the last to let go frees it and wipes its secrets.
 *
 * Any thread: the count is atomic, nothing else changes once loaded but
 * the webhook secrets, which only the loop reads and refreshes (secrets.c).
 * Never logs a secret.
 */
#include "config.h"

#include <stdlib.h>
#include <string.h>

#include "agent.h"

struct agent_config *
agent_config_load(const char *file, char **cause)
{
	struct agent_config		*ac;
	const struct config_repository	*r;
	struct config			*cfg;
	size_t				 i;

	if ((cfg = config_load(file, cause)) == NULL)
		return (NULL);
	ac = xcalloc(1, sizeof *ac);
	ac->cfg = cfg;
	ac->refs = 1;
	ac->webhook_secrets = xcalloc(cfg->nrepositories + 1,
	    sizeof *ac->webhook_secrets);
	for (i = 0; i < cfg->nrepositories; i++) {
		r = &cfg->repositories[i];
		if (r->webhook_secret_file == NULL &&
		    r->webhook_secret_env == NULL)
			continue;
		if (secrets_load(&ac->webhook_secrets[i],
		    r->webhook_secret_file, r->webhook_secret_env,
		    cause) == -1)
			goto fail;
	}
	if ((cfg->api_token_file != NULL || cfg->api_token_env != NULL) &&
	    config_read_secret(cfg->api_token_file, cfg->api_token_env,
	    &ac->api_token, &ac->api_token_len, cause) == -1)
		goto fail;
	return (ac);
fail:
	agent_config_unref(ac);
	return (NULL);
}

struct agent_config *
agent_config_ref(struct agent_config *ac)
{
	__atomic_add_fetch(&ac->refs, 1, __ATOMIC_RELAXED);
	return (ac);
}

void
agent_config_unref(struct agent_config *ac)
{
	size_t	i;

	if (ac == NULL || __atomic_sub_fetch(&ac->refs, 1,
	    __ATOMIC_ACQ_REL) != 0)
		return;
	for (i = 0; i < ac->cfg->nrepositories; i++)
		secrets_clear(&ac->webhook_secrets[i]);
	free(ac->webhook_secrets);
	if (ac->api_token != NULL) {
		explicit_bzero(ac->api_token, ac->api_token_len);
		free(ac->api_token);
	}
	config_free(ac->cfg);
	free(ac);
}
