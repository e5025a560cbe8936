#define _GNU_SOURCE
#include "sluice_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Where the child reports a failure: a pipe (fork) or memory shared with the suspended parent (vfork). */
typedef struct child_report {
    int fd;
    volatile sluice_spawn_failure *shared;
} child_report;

/* Child side: report the failing stage to the parent and exit. Async-signal-safe only. */
static void child_fail(const child_report *report, int stage) {
    sluice_spawn_failure failure = { stage, errno };
    if (report->shared != NULL) {
        report->shared->error = failure.error;
        report->shared->stage = failure.stage;
    } else {
        ssize_t ignored = write(report->fd, &failure, sizeof failure);
        (void)ignored;
    }
    _exit(127);
}

/* Marks every descriptor from `first` up close-on-exec, so exec leaves only those below it open. */
static void child_mark_cloexec_from(int first) {
    if (syscall(SYS_close_range, (unsigned)first, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return;
    }
    struct rlimit limit;
    long max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && (long)limit.rlim_cur < max) {
        max = (long)limit.rlim_cur;
    }
    for (long fd = first; fd < max; fd++) {
        int flags = fcntl((int)fd, F_GETFD);
        if (flags >= 0) {
            fcntl((int)fd, F_SETFD, flags | FD_CLOEXEC);
        }
    }
}

/* Points 0, 1 and 2 at the requested descriptors, going through high copies so that sources may be 0..2. */
static int child_setup_stdio(const sluice_spawn_request *request) {
    int wanted[3] = { request->stdin_fd, request->stdout_fd, request->stderr_fd };
    int copies[3];
    for (int i = 0; i < 3; i++) {
        int source = wanted[i];
        if (source < 0) {
            source = open("/dev/null", i == 0 ? O_RDONLY : O_WRONLY);
            if (source < 0) {
                return -1;
            }
        }
        copies[i] = fcntl(source, F_DUPFD_CLOEXEC, 10);
        if (copies[i] < 0) {
            return -1;
        }
    }
    for (int i = 0; i < 3; i++) {
        if (dup2(copies[i], i) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Puts the inherited descriptors at 3, 4, ... (through high copies, so a source may be any of the targets). */
static int child_setup_inherited(const sluice_spawn_request *request) {
    int copies[64];
    if (request->inherit_fd_count > 64) {
        errno = EMFILE;
        return -1;
    }
    for (int i = 0; i < request->inherit_fd_count; i++) {
        copies[i] = fcntl(request->inherit_fds[i], F_DUPFD_CLOEXEC, 256);
        if (copies[i] < 0) {
            return -1;
        }
    }
    for (int i = 0; i < request->inherit_fd_count; i++) {
        if (dup2(copies[i], 3 + i) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Resets a signal glibc keeps for itself (32, 33), whose sigaction wrapper refuses them. */
static void child_reset_reserved_signal(int sig) {
#if defined(__x86_64__) || defined(__aarch64__)
    struct {
        void *handler;
        unsigned long flags;
        void *restorer;
        unsigned long mask;
    } kernel_action = { SIG_DFL, 0, NULL, 0 };
    syscall(SYS_rt_sigaction, sig, &kernel_action, NULL, sizeof kernel_action.mask);
#else
    (void)sig;
#endif
}

/* Child side, held: waits for the releasing byte; the release socket's end (nobody will release it) is a
   failure. */
static void child_wait_for_release(int fd, const child_report *report) {
    char byte;
    ssize_t n;
    do {
        n = read(fd, &byte, 1);
    } while (n < 0 && errno == EINTR);
    if (n != 1) {
        errno = n < 0 ? errno : 0;
        child_fail(report, SLUICE_STAGE_RELEASE);
    }
}

/* Child side, between fork and exec. */
static void child_run(const sluice_spawn_request *request, const child_report *report) {
    /* Out of the way of the descriptor shuffling below (which uses 0..2, 3.. and 256..). */
    int release = request->hold ? fcntl(request->release_fd, F_DUPFD_CLOEXEC, 512) : -1;
    if (request->hold && release < 0) {
        child_fail(report, SLUICE_STAGE_RELEASE);
    }
    /* Dispositions first (a parent that ignores SIGTERM must not pass that on), then the mask. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigemptyset(&dfl.sa_mask);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) {
            continue;
        }
        if (sigaction(sig, &dfl, NULL) != 0 && errno == EINVAL) {
            child_reset_reserved_signal(sig);
        }
    }
    sigset_t empty;
    sigemptyset(&empty);
    sigprocmask(SIG_SETMASK, &empty, NULL);

    if (request->new_session ? setsid() < 0 : setpgid(0, 0) < 0) {
        child_fail(report, SLUICE_STAGE_SESSION);
    }
    /* Join the attempt's cgroups first, so that everything after (and every descendant) is accounted and limited. */
    for (int i = 0; i < request->cgroup_fd_count; i++) {
        if (write(request->cgroup_fds[i], "0", 1) != 1) {
            child_fail(report, SLUICE_STAGE_CGROUP);
        }
    }
    if (request->bind_source != NULL && request->bind_target != NULL) {
        if (unshare(CLONE_NEWNS) != 0
            || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
            || mount(request->bind_source, request->bind_target, NULL, MS_BIND, NULL) != 0) {
            child_fail(report, SLUICE_STAGE_MOUNT);
        }
    }
    if (child_setup_stdio(request) != 0 || child_setup_inherited(request) != 0) {
        child_fail(report, SLUICE_STAGE_STDIO);
    }
    if (request->cwd != NULL && chdir(request->cwd) != 0) {
        child_fail(report, SLUICE_STAGE_CHDIR);
    }
    if (request->set_ids) {
        if (setgroups((size_t)request->group_count, request->groups) != 0 || setgid(request->gid) != 0
            || setuid(request->uid) != 0) {
            child_fail(report, SLUICE_STAGE_IDS);
        }
    }
    /* After the id change, which clears it: a helper such as initdb must not outlive the setup that started it. */
    if (request->die_with_parent && prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        child_fail(report, SLUICE_STAGE_SESSION);
    }
    child_mark_cloexec_from(3 + request->inherit_fd_count);
    /* Last, so that a low open-files limit cannot break the descriptor shuffling above. */
    for (int i = 0; i < request->rlimit_count; i++) {
        struct rlimit limit = { request->rlimits[i].soft, request->rlimits[i].hard };
        if (setrlimit(request->rlimits[i].resource, &limit) != 0) {
            child_fail(report, SLUICE_STAGE_RLIMIT);
        }
    }
    /* Everything that can fail is done: only the exec is left when the releasing byte comes. */
    if (request->hold) {
        child_wait_for_release(release, report);
    }
    execve(request->path, request->argv, request->envp);
    child_fail(report, SLUICE_STAGE_EXEC);
}

/* Forks the child; returns its pid and the read end of the pipe where it reports a failing stage (which ends,
   empty, at its exec), or -1 with *failure set. */
static pid_t fork_child(const sluice_spawn_request *request, int *failure_fd, sluice_spawn_failure *failure) {
    int pipe_fds[2];
    if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
        failure->stage = SLUICE_STAGE_PIPE;
        failure->error = errno;
        return -1;
    }
    /* No handler of the parent's may run in the child before the dispositions are reset. */
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    pid_t pid = fork();
    if (pid == 0) {
        close(pipe_fds[0]);
        child_report report = { pipe_fds[1], NULL };
        child_run(request, &report);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(pipe_fds[1]);
    if (pid < 0) {
        close(pipe_fds[0]);
        failure->stage = SLUICE_STAGE_FORK;
        failure->error = fork_errno;
        return -1;
    }
    *failure_fd = pipe_fds[0];
    return pid;
}

int sluice_spawn_outcome(pid_t pid, int failure_fd, sluice_spawn_failure *failure) {
    sluice_spawn_failure reported;
    ssize_t got;
    do {
        got = read(failure_fd, &reported, sizeof reported);
    } while (got < 0 && errno == EINTR);
    close(failure_fd);
    if (got == (ssize_t)sizeof reported) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *failure = reported;
        return -1;
    }
    return 0;
}

/* The fork path: needed to drop privileges or enter a mount namespace, which are unsafe in a vfork child. */
static pid_t spawn_with_fork(const sluice_spawn_request *request, sluice_spawn_failure *failure) {
    int failure_fd;
    pid_t pid = fork_child(request, &failure_fd, failure);
    if (pid < 0 || sluice_spawn_outcome(pid, failure_fd, failure) != 0) {
        return -1;
    }
    return pid;
}

pid_t sluice_spawn_held(const sluice_spawn_request *request, int *failure_fd, sluice_spawn_failure *failure) {
    failure->stage = SLUICE_STAGE_NONE;
    failure->error = 0;
    return fork_child(request, failure_fd, failure);
}

typedef struct vfork_args {
    const sluice_spawn_request *request;
    volatile sluice_spawn_failure *shared;
} vfork_args;

static int vfork_child(void *argument) {
    vfork_args *args = argument;
    child_report report = { -1, args->shared };
    child_run(args->request, &report);
    return 127;
}

/* The fast path: the child shares our memory and we stay suspended until it has exec'd or failed,
   so no page tables are copied and nothing is copied on write. */
static pid_t spawn_with_vfork(const sluice_spawn_request *request, sluice_spawn_failure *failure) {
    const size_t stack_size = 256 * 1024;
    void *stack = mmap(NULL, stack_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        failure->stage = SLUICE_STAGE_FORK;
        failure->error = errno;
        return -1;
    }
    volatile sluice_spawn_failure shared = { SLUICE_STAGE_NONE, 0 };
    vfork_args args = { request, &shared };
    sigset_t all, saved;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &saved);
    int saved_errno = errno;
    pid_t pid = clone(vfork_child, (char *)stack + stack_size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int clone_errno = errno;
    errno = saved_errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    munmap(stack, stack_size);
    if (pid < 0) {
        failure->stage = SLUICE_STAGE_FORK;
        failure->error = clone_errno;
        return -1;
    }
    if (shared.stage != SLUICE_STAGE_NONE) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        failure->stage = shared.stage;
        failure->error = shared.error;
        return -1;
    }
    return pid;
}

pid_t sluice_spawn(const sluice_spawn_request *request, sluice_spawn_failure *failure) {
    failure->stage = SLUICE_STAGE_NONE;
    failure->error = 0;
    if (request->set_ids || request->bind_source != NULL) {
        return spawn_with_fork(request, failure);
    }
    return spawn_with_vfork(request, failure);
}

int sluice_has_exited(pid_t pid) {
    siginfo_t info;
    memset(&info, 0, sizeof info);
    if (waitid(P_PID, (id_t)pid, &info, WEXITED | WNOHANG | WNOWAIT) != 0) {
        return -1;
    }
    return info.si_pid == 0 ? 0 : 1;
}

int sluice_pidfd_open(pid_t pid) {
#ifdef SYS_pidfd_open
    int fd = (int)syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0) {
        fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    return fd;
#else
    (void)pid;
    errno = ENOSYS;
    return -1;
#endif
}

int sluice_pidfd_send_signal(int pidfd, int signal_number) {
#ifdef SYS_pidfd_send_signal
    return (int)syscall(SYS_pidfd_send_signal, pidfd, signal_number, NULL, 0);
#else
    (void)pidfd;
    (void)signal_number;
    errno = ENOSYS;
    return -1;
#endif
}

int sluice_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}
