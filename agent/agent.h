/*
 * agent.h: the gitops-agent binary: command line, and later the daemon.
 */
#ifndef AGENT_H
#define AGENT_H

#include <sys/queue.h>
#include <sys/types.h>

#include <time.h>

#include "gitops.h"

/* Exit statuses, as diff(1) and `kubectl diff` use them for diff. */
#define EXIT_OK		0
#define EXIT_DIFFERENT	1
#define EXIT_FAILED	1	/* reconcile --wait: the sync did not succeed */
#define EXIT_ERROR	2

struct cli_env {
	const char	*config_file;	/* -c, or NULL for the default */
	int		 config_given;	/* -c was on the command line */
	int		 verbose;
};

/* webhook.c: providers' deliveries, their signatures, repository URLs */
enum webhook_provider {
	WEBHOOK_GITHUB,
	WEBHOOK_GITLAB,
	WEBHOOK_GITEA,		/* and Forgejo, Gogs */
	WEBHOOK_BITBUCKET_SERVER,
	WEBHOOK_GENERIC,	/* our post-receive hook, any CI */
};
#define WEBHOOK_PROVIDER_COUNT	5
enum webhook_kind {
	WEBHOOK_PUSH,
	WEBHOOK_PING,
	WEBHOOK_DEPLOY,		/* repository_dispatch deploy-service */
	WEBHOOK_OTHER,
};
/* A deploy-service request (DESIGN.md section 1). */
struct deploy_request {
	char		*service;
	char		*environment;
	char		*version;
	char		*image;		/* NULL: the kustomization's only one */
	char		*tag;		/* or digest, or neither (the version) */
	char		*digest;
	struct strv	 requires;	/* synced and healthy first */
	struct strv	 required_by;	/* informational */
	int		 force;		/* deploy a held version */
};
struct webhook_event {
	enum webhook_provider	 provider;
	enum webhook_kind	 kind;
	char			*event;		/* the provider's event name */
	char			*delivery;	/* its delivery id, or NULL */
	struct strv		 urls;		/* repository URLs, as sent */
	struct strv		 branches;	/* push: branches moved */
	char			*after;		/* push: new commit, or NULL */
	struct deploy_request	*deploy;	/* WEBHOOK_DEPLOY, once verified */
};
/* A header's value by name (case-insensitive), or NULL. */
typedef const char *(*webhook_header_fn)(void *, const char *);
const char	*webhook_provider_name(enum webhook_provider);
int		 webhook_provider_from_name(const char *,
		     enum webhook_provider *);
const char	*webhook_kind_name(enum webhook_kind);
/*
 * Read a delivery: its event header, delivery id and the fields of its
 * JSON body that matter (one validating pass, no tree: it runs before
 * the signature is checked). -1 with cause when malformed (no event
 * header, not a JSON object, a push without a repository URL). Says
 * nothing of its signature.
 */
int		 webhook_parse(enum webhook_provider, webhook_header_fn,
		     void *, const char *, size_t, struct webhook_event *,
		     char **);
void		 webhook_event_free(struct webhook_event *);
/*
 * The deploy request of a repository_dispatch body (its client_payload):
 * a full parse, done only after the signature was verified.
 */
struct deploy_request *webhook_deploy_request(const char *, size_t,
		     char **);
/*
 * 1 when the delivery's signature (HMAC-SHA256 of the raw body, or
 * GitLab's token) matches the secret, compared in constant time; 0 when
 * it is missing, malformed or wrong, or there is no secret.
 */
int		 webhook_verify(enum webhook_provider, webhook_header_fn,
		     void *, const void *, size_t, const char *, size_t);
/* host (lower case) and path, without scheme, user, port, ".git". */
char		*webhook_url_normalize(const char *);
struct deploy_request *deploy_request_from_json(const struct json *,
		     char **);
/*
 * The signed body's "timestamp" (RFC 3339) is at most skew seconds from
 * now (seconds since the epoch); -1 with cause if missing or not.
 */
int		 deploy_request_fresh(const struct json *, int64_t, int64_t,
		     char **);
struct json	*deploy_request_to_json(const struct deploy_request *);
void		 deploy_request_free(struct deploy_request *);

/*
 * webhook_form.c: form-encoded deliveries (the event's JSON in a
 * "payload" field). webhook_form_is: content_type is
 * application/x-www-form-urlencoded; webhook_form_is_json: the body is a
 * JSON object all the same. webhook_form_payload: the decoded
 * payload (NUL-terminated, its length in outlen), or NULL with cause when
 * the body is over max bytes, badly encoded or has no single payload.
 */
int		 webhook_form_is(const char *);
int		 webhook_form_is_json(const char *, size_t);
char		*webhook_form_payload(const char *, size_t, size_t, size_t *,
		     char **);

/* metrics.c: counters, gauges and histograms in Prometheus text format */
struct metrics;
struct metrics	*metrics_new(void);
void		 metrics_free(struct metrics *);
/* labels: Prometheus label text without braces ("a=\"x\""), or NULL. */
void		 metrics_add(struct metrics *, const char *, const char *,
		     double);
void		 metrics_set(struct metrics *, const char *, const char *,
		     double);
void		 metrics_observe(struct metrics *, const char *, const char *,
		     double);
double		 metrics_value(const struct metrics *, const char *,
		     const char *);
char		*metrics_render(const struct metrics *);
/* Forget every series with the label KEY="VALUE" (an app a reload removed). */
void		 metrics_forget(struct metrics *, const char *, const char *);
/* A label value escaped for the text format (allocated). */
char		*metrics_label_escape(const char *);

/*
 * replay.c: the digests (SHA-256, hex) of signed deploy bodies that
 * landed, kept on disk in a state directory for keep ms (at most max of
 * them), so that the same body is refused whatever its delivery id.
 */
struct replay;
struct replay	*replay_open(const char *, uint64_t, size_t, char **);
void		 replay_free(struct replay *);
int		 replay_landed(const struct replay *, const char *);
int		 replay_record(struct replay *, const char *, char **);

/*
 * secrets.c: a repository's webhook secrets, any of which verifies: the
 * lines of webhook_secret_file (re-read when it changes, checked at most
 * once a second by secrets_refresh, loop thread only) or the one secret
 * of webhook_secret_env. n is 0 when the repository has none.
 */
struct secrets {
	char		 *file;		/* NULL: from the environment */
	char		**v;
	size_t		 *lens;
	size_t		  n;
	dev_t		  dev;		/* the file as it was read */
	ino_t		  ino;
	off_t		  size;
	struct timespec	  mtime;
	uint64_t	  checked_ms;
};
int		 secrets_load(struct secrets *, const char *, const char *,
		     char **);
void		 secrets_refresh(struct secrets *, uint64_t);
void		 secrets_clear(struct secrets *);

/*
 * agent_config.c: the daemon's configuration as jobs see it: a loaded
 * file and the secrets it names, read once. Shared between the loop and
 * the jobs that started under it; freed by the last to let go (a reload
 * makes a new one while jobs may still hold the old).
 */
struct agent_config {
	struct config	 *cfg;
	struct secrets	 *webhook_secrets;	/* per repository */
	char		 *api_token;		/* or NULL */
	size_t		  api_token_len;
	int		  refs;
};
struct agent_config *agent_config_load(const char *, char **);
struct agent_config *agent_config_ref(struct agent_config *);
void		 agent_config_unref(struct agent_config *);

/* sched.c: the job queue and the worker threads; jobs.c: what a job does */
enum job_kind {
	JOB_REPO,	/* fetch a repository, sync the apps it changed */
	JOB_DEPLOY,	/* bump a service's version, sync it after requires */
	JOB_DRIFT,	/* compare an app's live state with its last commit */
};
struct job {
	TAILQ_ENTRY(job)	 entry;
	enum job_kind		 kind;
	struct agent_config	*ac;
	uint64_t		 id;
	char			*reason;	/* webhook, poll, startup, api */
	struct strv		 keys;		/* repositories it works on */
	struct shards		*shards;	/* NULL: every app is ours */
	/* JOB_REPO */
	char			*repo;
	int			 all;		/* sync every app of it */
	struct strv		 force;		/* apps synced whatever changed */
	/* JOB_DRIFT (repo: its repository) */
	char			*app;
	/* JOB_DEPLOY */
	struct deploy_request	*deploy;
	char			*deploy_file;	/* the request, kept until done */
	char			*deploy_digest;	/* SHA-256 of its signed body */
	/* What the worker found, read by the loop when it is done. */
	int			 fetched;	/* fetches made */
	int			 fetch_failed;
	double			 fetch_seconds;
	char			*head;		/* JOB_REPO: commit fetched */
	char			*error;
	struct json		*reports;	/* array: one object per app */
	int			 bumped;	/* JOB_DEPLOY: versions_write ran */
	int			 bump_failed;
	struct versions_result	 bump;
	int			 deployed;	/* its app synced healthy */
	int			 interrupted;	/* the shutdown stopped it */
	int			 not_held;	/* its shard is elsewhere: kept */
	uint64_t		 started_ms;
	uint64_t		 finished_ms;
};
TAILQ_HEAD(job_queue, job);
struct sched;
struct event_base;
/*
 * Start n workers. done_cb runs on the loop thread (an event made active
 * by the worker) whenever jobs finished; it takes them with sched_done().
 */
struct sched	*sched_new(struct event_base *, int, const int *,
		     void (*)(int, short, void *), void *);
/* Queue a job (the scheduler owns it until sched_done hands it back). */
void		 sched_push(struct sched *, struct job *);
/*
 * Fold a request into the repository's job still waiting for a worker:
 * 1 when there was one (it now also syncs app, or every app with all).
 */
int		 sched_merge_repo(struct sched *, const char *, int,
		     const char *);
/* Finished jobs, oldest first, moved to q. */
void		 sched_done(struct sched *, struct job_queue *);
/* Jobs queued, not yet running, moved to q (at shutdown). */
void		 sched_drain(struct sched *, struct job_queue *);
void		 sched_counts(struct sched *, size_t *, size_t *);
/* Stop the workers once they are idle and join them; 0 if they did. */
int		 sched_stop(struct sched *, uint64_t);
void		 sched_free(struct sched *);
struct job	*job_new(enum job_kind, struct agent_config *, const char *);
void		 job_free(struct job *);
/* Run a job (in a worker thread); stop is the shutdown flag. */
void		 job_run(struct job *, const int *);
/* The app of a configuration deploying service to environment. */
const struct config_app *job_deploy_app(const struct config *, const char *,
		     const char *);

/*
 * shards.c: coordination in the daemon: the Lease thread, which app this
 * replica may apply and commit for (fencing), the loop woken when shards
 * are taken or a push elsewhere nudged a repository. Every function takes NULL (no coordination: every app is
 * ours) and is thread-safe.
 */
struct shards;
/* NULL and no *cause without coordination. */
struct shards	*shards_start(struct event_base *,
		     const struct config_coordination *,
		     void (*)(int, short, void *), void *, char **);
void		 shards_stop(struct shards *);
void		 shards_free(struct shards *);
int		 shards_of(const struct shards *, const struct config_app *);
/* 1 when app's shard is held (with the margin); else 0 and *why. */
int		 shards_hold(struct shards *, const struct config_app *,
		     char **);
char		*shards_holder(struct shards *, const struct config_app *);
void		 shards_stats(struct shards *, struct lease_stats *);
int		 shards_count(const struct shards *);
/*
 * What woke the loop: shards taken (*gained), repositories other
 * replicas got pushes for (nudged), deploys kept by another replica for
 * a shard now ours (adopted: their requests as kept); to free, cleared.
 */
void		 shards_take(struct shards *, int *, struct strv *,
		     struct strv *);
/*
 * A deploy of app accepted (text: the request as kept on disk) and
 * done: kept on the API server meanwhile, for the next holder of its
 * shard should this replica die (handoff.c). Written by the lease
 * thread at once, never on the loop.
 */
void		 shards_deploy_keep(struct shards *, const struct config_app *,
		     const char *, const char *);
void		 shards_deploy_done(struct shards *, const char *);
/* A push for repository arrived here: tell the other shards' holders. */
void		 shards_nudge(struct shards *, const char *);
/* Seconds a client should wait before asking again (a lease duration). */
unsigned int	 shards_retry_after(const struct shards *);
const char	*shards_identity(const struct shards *);

/* daemon.c */
int	cmd_serve(struct cli_env *, int, char **);

/*
 * status.c: `status`, and the client of the commands that talk to the
 * running agent: its address (--address, or listen) and API token.
 */
struct status_client {
	struct config	*cfg;		/* NULL: --address without one */
	const char	*address;
	char		*token;		/* or NULL */
	size_t		 token_len;
};
int		 status_client_open(struct status_client *, struct cli_env *,
		     const char *, char **);
void		 status_client_close(struct status_client *);
/* METHOD path: the answer's JSON when its code is want, or NULL, cause. */
struct json	*status_client_call(struct status_client *, const char *,
		     const char *, int, char **);
char		*status_app_path(const char *, const char *);
const char	*status_clean(char *, size_t, const char *);
void		 status_print_sync(FILE *, const struct json *);
int		 cmd_status(struct cli_env *, int, char **);

/* reconcile.c */
int	cmd_reconcile(struct cli_env *, int, char **);

/* history.c */
int	cmd_history(struct cli_env *, int, char **);

/* cli.c */
int	cmd_check(struct cli_env *, int, char **);
int	cmd_validate(struct cli_env *, int, char **);
int	cmd_render(struct cli_env *, int, char **);
int	cmd_plan(struct cli_env *, int, char **);
int	cmd_diff(struct cli_env *, int, char **);
int	cmd_sync(struct cli_env *, int, char **);
int	cmd_config_reference(struct cli_env *, int, char **);
int	cmd_bump(struct cli_env *, int, char **);
int	cmd_rollback(struct cli_env *, int, char **);

/* commands.c: the command table, the help, usage errors */
#define CLI_DEFAULT_CONFIG "./gitops-agent.yaml"
struct cli_option {
	int		 short_name;	/* 0: none */
	const char	*name;		/* the long name, without "--" */
	const char	*arg;		/* its argument's name; NULL: none */
	const char	*help;
};
struct cli_command {
	const char		*name;
	int			(*fn)(struct cli_env *, int, char **);
	const char		*synopsis;	/* after the name */
	const char		*summary;
	const struct cli_option	*options;	/* to a NULL name */
	const char *const	*examples;	/* to a NULL */
};
/* -c/--config, -v, -h/--help, -V/--version: anywhere on the line. */
extern const struct cli_option cli_global_options[];
const struct cli_command *cli_commands(size_t *);
const struct cli_command *cli_command_find(const char *);
const struct cli_option *cli_option_find(const struct cli_option *,
		     const char *, size_t, int);
int		 cli_option_known(const char *, size_t, int);
void		 cli_help(FILE *, const struct cli_command *);
int		 cli_usage_error(const char *, const char *, ...)
		     __attribute__((__format__(__printf__, 2, 3)));
int		 cmd_version(struct cli_env *, int, char **);
int		 cmd_help(struct cli_env *, int, char **);
/* --output of the commands that print data. */
enum cli_format {
	CLI_FORMAT_TABLE,	/* "text" for some commands */
	CLI_FORMAT_JSON,
	CLI_FORMAT_YAML,
};
/* -1 after a usage error naming the formats. */
int		 cli_format_parse(const char *, const char *,
		     enum cli_format *);
const char	*cli_app_operand(int, char **, int);
int		 cli_duration_arg(const char *, const char *, const char *,
		     uint64_t, uint64_t *);
/* JSON (two-space indent) or YAML text of a document, newline ended. */
char		*cli_format_text(const struct json *, enum cli_format);

/* manpage.c: gitops-agent(8) and gitops-agent.yaml(5) from the tables */
int		 cmd_manpage(struct cli_env *, int, char **);

/* completion.c: the bash completion from the command table */
int		 cmd_completion(struct cli_env *, int, char **);
int		 cmd_list_apps(struct cli_env *, int, char **);

#endif /* AGENT_H */
