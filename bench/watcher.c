/*
 * The cost of the watcher, alone: N times, start `true` and wait for it to end,
 *   1. directly (vfork + exec, then wait), as the engine did before steps had watchers;
 *   2. through `sluice-shim --spawner`: hand the attempt over a Unix socket, read "started", wait for the
 *      watcher's "ended" on the report pipe, as the engine does now (status file and pipes included; `true` writes nothing, so
 *      its watcher makes no log file).
 * Prints the median time per attempt of each and the difference. Built and run by bench/watcher.sh.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sluice_spawn.h" /* sluice_send_with_fds: the engine's own hand-off */

extern char **environ;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *values, int count) {
    qsort(values, (size_t)count, sizeof *values, compare);
    return values[count / 2];
}

static size_t record(char *out, const char *key, const char *value) {
    return (size_t)sprintf(out, "%s=%zu:%s\n", key, strlen(value), value);
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: watcher SHIM DIR N\n");
        return 64;
    }
    const char *shim = argv[1], *dir = argv[2];
    int n = atoi(argv[3]);
    double *direct = calloc((size_t)n, sizeof(double)), *watched = calloc((size_t)n, sizeof(double));
    char *true_argv[] = { "true", NULL };
    for (int i = 0; i < n; i++) {
        double t0 = now();
        pid_t pid;
        if (posix_spawn(&pid, "/usr/bin/true", NULL, NULL, true_argv, environ) != 0) {
            return 1;
        }
        int status;
        waitpid(pid, &status, 0);
        direct[i] = now() - t0;
    }
    int pair[2];
    socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair);
    pid_t spawner = fork();
    if (spawner == 0) {
        dup2(pair[1], 0);
        setsid();
        execl(shim, "sluice-shim", "--spawner", (char *)NULL);
        _exit(127);
    }
    close(pair[1]);
    mkdir(dir, 0700);
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    for (int i = 0; i < n; i++) {
        double t0 = now();
        char name[64], spec[1024];
        size_t length = 0;
        snprintf(name, sizeof name, "a%d.status", i);
        length += record(spec + length, "path", "/usr/bin/true");
        length += record(spec + length, "argv", "true");
        length += record(spec + length, "env", "PATH=/usr/bin:/bin");
        length += record(spec + length, "cwd", "/");
        length += record(spec + length, "status", name);
        snprintf(name, sizeof name, "a%d.out", i);
        length += record(spec + length, "stdout", name);
        snprintf(name, sizeof name, "a%d.err", i);
        length += record(spec + length, "stderr", name);
        int report[2];
        pipe2(report, O_CLOEXEC);
        char message[8 + sizeof spec];
        uint32_t header[2] = { (uint32_t)length, 2 };
        memcpy(message, header, sizeof header);
        memcpy(message + sizeof header, spec, length);
        int fds[2] = { report[1], dirfd };
        if (sluice_send_with_fds(pair[0], message, sizeof header + length, fds, 2) != 0) {
            return 1;
        }
        close(report[1]);
        char reply[128];
        ssize_t got = read(report[0], reply, sizeof reply - 1);
        if (got <= 0) {
            return 1;
        }
        reply[got] = 0;
        int step = 0, watcher = 0;
        if (sscanf(reply, "started %d %d", &step, &watcher) != 2) {
            fprintf(stderr, "watcher: %s", reply);
            return 1;
        }
        /* As the engine does: the end is the watcher's "ended" on the report pipe (or the pipe's end). */
        if (strstr(reply, "ended") == NULL) {
            struct pollfd p = { report[0], POLLIN, 0 };
            poll(&p, 1, -1);
        }
        close(report[0]);
        watched[i] = now() - t0;
    }
    close(pair[0]);
    waitpid(spawner, NULL, 0);
    double d = median(direct, n) * 1000, w = median(watched, n) * 1000;
    printf("start and end of `true`, median of %d: directly %.3f ms, under a watcher %.3f ms: the watcher costs %.3f ms\n", n, d, w, w - d);
    return 0;
}
