/*
 * git_int.h: what git.c (the repository cache), git_source.c (a commit's
 * tree as a source) and git_worker.c (the worker process) share, and
 * nobody else uses: the cache's structure, the worker's protocol and a
 * few helpers. Not for other modules (they use gitops.h); includes
 * <git2.h>, so only the git files include it.
 */
#ifndef GIT_INT_H
#define GIT_INT_H

#include <git2.h>

/* The remote every cache fetches from. */
#define GIT_REMOTE_NAME		"origin"
#define GIT_REMOTE_URL_KEY	"remote." GIT_REMOTE_NAME ".url"
/* The worker's input (a token) and output (a commit id, or a message). */
#define GIT_WORKER_MAX_INPUT	(64 * 1024)
#define GIT_WORKER_MAX_OUTPUT	(64 * 1024)
/* Held by a fetching worker; released by the kernel if it is killed. */
#define GIT_FETCH_LOCK		"gitops-fetch.lock"
#define GIT_SHORT_LEN		7
/*
 * The worker prints one of these on its first line of output; what
 * follows is the remote's reason (status, then its messages).
 */
#define GIT_PUSH_OK_LINE	"pushed"
#define GIT_PUSH_STALE_LINE	"stale"
#define GIT_PUSH_REJECTED_LINE	"rejected"

struct git_cache {
	git_repository	*repo;
	char		*name;
	char		*dir;
	char		*url;		/* for messages: no credentials */
	char		*raw_url;	/* as configured: never printed */
};

/* git.c */
/* libgit2's message for its last failure on this thread. */
const char	*git_errmsg(void);
/* Initialise libgit2 once per process, free of any user configuration. */
void		 git_init(void);
/* The cache's URL for messages (its directory if it has none). */
const char	*git_cache_label(const struct git_cache *);
/* "refs/heads/BRANCH" if the branch name is a valid one, else NULL. */
char		*git_branch_ref(const char *);
/* An SSH remote's host as known_hosts names it, NULL if none. */
char		*git_ssh_known_name(const char *);
/* The tree of the commit rev names, and the commit's id. */
int		 git_rev_tree(git_repository *, const char *, const char *,
		     git_oid *, git_tree **, char **);

#endif /* GIT_INT_H */
