/* The only code that runs between fork and exec, and the async-signal-safe signal pipe. */
#ifndef SLUICE_SPAWN_H
#define SLUICE_SPAWN_H

#include <signal.h>
#include <sys/resource.h>
#include <sys/types.h>

/* One resource limit to set in the child: soft and hard values (RLIM_INFINITY for none). */
typedef struct sluice_rlimit {
    int resource;
    rlim_t soft;
    rlim_t hard;
} sluice_rlimit;

/* What to start and how; every field is read before fork, nothing is allocated after it. */
typedef struct sluice_spawn_request {
    const char *path;           /* executable; a relative path resolves after the chdir */
    char *const *argv;          /* NULL-terminated */
    char *const *envp;          /* NULL-terminated; the child's whole environment */
    const char *cwd;            /* NULL: inherit */
    int stdin_fd;               /* -1: /dev/null */
    int stdout_fd;              /* -1: /dev/null */
    int stderr_fd;              /* -1: /dev/null */
    int new_session;            /* 1: setsid() (a daemon); 0: a new process group */
    int set_ids;                /* 1: drop to uid/gid with the listed supplementary groups */
    uid_t uid;
    gid_t gid;
    const gid_t *groups;        /* supplementary groups when set_ids (NULL/0: none) */
    int group_count;
    int die_with_parent;        /* 1: SIGKILL the child when the spawning thread exits (PR_SET_PDEATHSIG) */
    const char *bind_source;    /* non-NULL: private mount namespace with source bound on target */
    const char *bind_target;
    const int *cgroup_fds;      /* open for writing on each cgroup.procs to join before exec */
    int cgroup_fd_count;
    const sluice_rlimit *rlimits; /* applied just before exec */
    int rlimit_count;
    const int *inherit_fds;     /* descriptors the child keeps, as fds 3, 4, ... in this order */
    int inherit_fd_count;
    int hold;                   /* 1: once set up, the child waits for a byte on release_fd before exec; its end
                                   of file (the releaser gone, or changed its mind) ends it unexec'd */
    int release_fd;
} sluice_spawn_request;

/* Where a start failed: the stage and the errno the child saw. */
typedef struct sluice_spawn_failure {
    int stage;
    int error;
} sluice_spawn_failure;

enum {
    SLUICE_STAGE_NONE = 0,
    SLUICE_STAGE_PIPE = 1,
    SLUICE_STAGE_FORK = 2,
    SLUICE_STAGE_SESSION = 3,
    SLUICE_STAGE_MOUNT = 4,
    SLUICE_STAGE_STDIO = 5,
    SLUICE_STAGE_CHDIR = 6,
    SLUICE_STAGE_IDS = 7,
    SLUICE_STAGE_EXEC = 8,
    SLUICE_STAGE_CGROUP = 9,
    SLUICE_STAGE_RLIMIT = 10,
    SLUICE_STAGE_RELEASE = 11, /* held, and never released: nothing was exec'd */
};

/* Starts a child; returns its pid, or -1 with *failure set (the child is already reaped). */
pid_t sluice_spawn(const sluice_spawn_request *request, sluice_spawn_failure *failure);

/* Forks a child that, set up, waits for its release (request->hold) while the caller goes on: returns its pid
   and, in *failure_fd, where sluice_spawn_outcome learns how its start went; or -1 with *failure set. */
pid_t sluice_spawn_held(const sluice_spawn_request *request, int *failure_fd, sluice_spawn_failure *failure);

/* Waits until a child of sluice_spawn_held has exec'd (0) or failed (-1 with *failure set, the child reaped);
   closes failure_fd. */
int sluice_spawn_outcome(pid_t pid, int failure_fd, sluice_spawn_failure *failure);

/* Installs handlers that write each listed signal's number as one byte to a pipe; returns its read end or -1. */
int sluice_signal_pipe_install(const int *signals, int count);

/* A signal disposition saved to be put back later. */
typedef struct sluice_saved_action {
    struct sigaction action;
} sluice_saved_action;

/* Saves a signal's current disposition. */
int sluice_signal_save(int signal_number, sluice_saved_action *saved);

/* Puts back a disposition saved with sluice_signal_save. */
int sluice_signal_restore(int signal_number, const sluice_saved_action *saved);

/* Puts a signal back to its default disposition. */
int sluice_signal_default(int signal_number);

/* A pidfd for the process (readable once it exits), or -1 with errno set (ENOSYS before Linux 5.3). */
int sluice_pidfd_open(pid_t pid);

/* A pipe whose two ends are close-on-exec (pipe2 with O_CLOEXEC); 0 or -1 with errno set. */
int sluice_pipe_cloexec(int fds[2]);

/* Sends a signal through a pidfd (never to a process that reused the pid); -1 with errno set on failure. */
int sluice_pidfd_send_signal(int pidfd, int signal_number);

/* 1 when the child has exited (it is left unreaped), 0 while it runs, -1 on error. */
int sluice_has_exited(pid_t pid);

/* Most descriptors one attempt hands the spawner (report, two logs, status directory, cgroups). */
#define SLUICE_SPAWNER_MAX_FDS 32

/* A close-on-exec Unix stream socket pair; 0 or -1 with errno set. */
int sluice_socketpair_cloexec(int fds[2]);

/* Sends `length` bytes with `count` descriptors attached (SCM_RIGHTS), retrying on EINTR, never raising
   SIGPIPE; 0, or -1 with errno set. */
int sluice_send_with_fds(int socket_fd, const void *data, size_t length, const int *fds, int count);

/* Receives exactly `length` bytes and the descriptors attached to them (close-on-exec); the number of
   descriptors, or -1 at the end of the stream (errno 0) or on an error (errno set). */
int sluice_receive_with_fds(int socket_fd, void *data, size_t length, int *fds, int capacity);

#endif
