/*
 * versions_int.h: what versions.c (the writer) and versions_queue.c (the
 * group-commit queue) share, and nobody else uses: a request's job, the
 * edit it makes, and the writer's loop the queue's leader runs. Not for
 * other modules (they use gitops.h).
 */
#ifndef VERSIONS_INT_H
#define VERSIONS_INT_H

#define VERSIONS_FILE_MAX	(1024 * 1024)

/* What a service runs in an environment, as one commit holds it. */
struct vw_values {
	char	*version;	/* NULL: the versions file has no entry */
	char	*kustomization;	/* path of the app's, NULL: none */
	char	*image;		/* the images entry's name, NULL: none */
	char	*new_name;
	char	*tag;
	char	*digest;
	int	 has_images;	/* the kustomization lists images */
	char	*image_error;	/* why no images entry was picked */
};

/* One edit of the tip: the files, the message, what it does. */
struct vw_edit {
	struct git_file_update	 files[3];
	char			*data[3];
	char			*paths[3];
	size_t			 nfiles;
	char			*message;
	char			*summary;
	char			*previous_version;
	char			*version;
	char			*previous_image;
	char			*image;
};

enum vw_outcome {
	VW_COMMIT,
	VW_NOTHING,
	VW_REFUSED,
	VW_TAKEN_OVER,	/* a dead leader's push: check it landed first */
};

struct vw {
	const struct config		*cfg;
	const struct config_repository	*repo;
	const struct config_app		*app;	/* NULL: versions file only */
	const struct versions_request	*req;
	struct git_cache		*gc;
	/* rollback: the bump reverted, found on the first attempt */
	char				*bump;
	char				*bump_subject;
	struct vw_values		 bad;
	struct vw_values		 good;
};

/*
 * One request in a batch: its own state (the app, a rollback's target),
 * this round's edit and commit, and its outcome once the round is final.
 */
struct vw_job {
	struct vw		 w;
	struct versions_request	 req;
	struct json		*doc;		/* owns req's strings if queued */
	char			*id;		/* queue name */
	struct vw_edit		 e;
	int			 rc;		/* this round: VW_* or -1 */
	char			*commit;	/* this round's */
	char			*error;		/* this round's, or final */
	struct versions_result	 r;
	int			 final;
	char			*pushing;	/* queue: marks a push (file) */
	uint64_t		 deadline;	/* monotonic */
};

/* versions.c */
int		 vw_streq(const char *, const char *);
char		*vw_strdup(const char *);
uint64_t	 vw_op_timeout(const struct config_repository *, uint64_t);
void		 vw_job_free(struct vw_job *);
struct vw_job	*vw_job_new(const struct config *,
		     const struct config_repository *, struct git_cache *,
		     const struct versions_request *, char **);
int		 vw_landed(struct git_cache *, const char *, const char *);
void		 vw_run(const struct config *, const struct config_repository *,
		     struct git_cache *, struct vw_job **, size_t, uint64_t,
		     char **);

/* versions_queue.c */
int		 vw_queue_write(const char *, const char *, char **);
int		 vw_queue_submit(const struct config *,
		     const struct config_repository *,
		     const struct versions_request *, uint64_t,
		     struct versions_result *, char **);

#endif /* VERSIONS_INT_H */
