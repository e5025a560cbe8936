#define _GNU_SOURCE
#include "sluice_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* Child side: report the failing stage to the parent and exit. Async-signal-safe only. */
static void child_fail(int report_fd, int stage) {
    sluice_spawn_failure failure = { stage, errno };
    ssize_t ignored = write(report_fd, &failure, sizeof failure);
    (void)ignored;
    _exit(127);
}

/* Marks every descriptor from 3 up close-on-exec, so exec leaves only 0, 1 and 2 open. */
static void child_mark_cloexec_from_3(void) {
    if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) == 0) {
        return;
    }
    struct rlimit limit;
    long max = 65536;
    if (getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur != RLIM_INFINITY && (long)limit.rlim_cur < max) {
        max = (long)limit.rlim_cur;
    }
    for (long fd = 3; fd < max; fd++) {
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

/* Child side, between fork and exec. */
static void child_run(const sluice_spawn_request *request, int report_fd) {
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
        child_fail(report_fd, SLUICE_STAGE_SESSION);
    }
    if (request->bind_source != NULL && request->bind_target != NULL) {
        if (unshare(CLONE_NEWNS) != 0
            || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0
            || mount(request->bind_source, request->bind_target, NULL, MS_BIND, NULL) != 0) {
            child_fail(report_fd, SLUICE_STAGE_MOUNT);
        }
    }
    if (child_setup_stdio(request) != 0) {
        child_fail(report_fd, SLUICE_STAGE_STDIO);
    }
    if (request->cwd != NULL && chdir(request->cwd) != 0) {
        child_fail(report_fd, SLUICE_STAGE_CHDIR);
    }
    if (request->set_ids) {
        if (setgroups(0, NULL) != 0 || setgid(request->gid) != 0 || setuid(request->uid) != 0) {
            child_fail(report_fd, SLUICE_STAGE_IDS);
        }
    }
    child_mark_cloexec_from_3();
    execve(request->path, request->argv, request->envp);
    child_fail(report_fd, SLUICE_STAGE_EXEC);
}

pid_t sluice_spawn(const sluice_spawn_request *request, sluice_spawn_failure *failure) {
    failure->stage = SLUICE_STAGE_NONE;
    failure->error = 0;
    int report[2];
    if (pipe2(report, O_CLOEXEC) != 0) {
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
        close(report[0]);
        child_run(request, report[1]);
    }
    int fork_errno = errno;
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    close(report[1]);
    if (pid < 0) {
        close(report[0]);
        failure->stage = SLUICE_STAGE_FORK;
        failure->error = fork_errno;
        return -1;
    }
    sluice_spawn_failure reported;
    ssize_t got;
    do {
        got = read(report[0], &reported, sizeof reported);
    } while (got < 0 && errno == EINTR);
    close(report[0]);
    if (got == (ssize_t)sizeof reported) {
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        *failure = reported;
        return -1;
    }
    return pid;
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
