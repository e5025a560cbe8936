/*
 * sluice-shim: watches one attempt of a step, independently of the Sluice process that started it.
 *
 * Each attempt gets one: forked by `sluice-shim --spawner` (one per engine, see spawner() below), or started
 * directly by Sluice, in a session of its own. It starts the step, relays the step's
 * stdout and stderr from pipes into the log files (with the log cap and secret masking), enforces the
 * timeout, and when the step ends it kills whatever the step left behind and writes how it ended into a
 * status file beside the logs. If the Sluice process that started it dies or restarts, the step goes on,
 * its output keeps flowing into its logs (never SIGPIPE, never a full pipe), and its ending waits in the
 * status file for whoever records it: the restarted service, another service, or a later command.
 * The design follows the shims that keep a container's exit status across restarts of their manager
 * (containerd's shim, conmon), in a few hundred lines of C with no runtime to load.
 *
 * Descriptors on entry: 0 the launch specification (read to EOF; handed over the socket by the spawner),
 * 1 and 2 /dev/null, 3 the report pipe ("started PID WATCHER-PID\n" or "failed STAGE ERRNO\n"; after a
 * start, "ended\n" once the status file holds the ending), 4 the attempt's log directory (status file and logs), 5… the cgroup.procs files the step joins
 * before exec, and after them, when the specification says hold=1, the release socket.
 *
 * Held (hold=1): the step is forked at once ("held PID WATCHER-PID" is reported instead of "started"), set up
 * to its last stage before exec (session, cgroups, descriptors, working directory, user, limits), and waits
 * there for one byte on the release socket, which the engine writes once the attempt's start is committed; so
 * the setup overlaps the engine's commit, and nothing runs that is not recorded. The next and last report is
 * "ended": if the start failed after all, or the release socket ended without its byte (the engine changed
 * its mind, or died), the status file's ending says so ("start_failed"; stage 11: never released, not exec'd).
 *
 * The log files are made on the first byte the step writes to each stream (O_EXCL, never through a link):
 * a step that prints nothing leaves no empty files, and costs no file creation.
 *
 * Signals: SIGTERM or SIGINT stop the step gracefully (SIGTERM to its process group, SIGKILL to the group
 * and its cgroups after the grace period); SIGUSR1 kills it at once. SIGHUP and SIGPIPE are ignored.
 */
#define _GNU_SOURCE
#include "sluice_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { FD_SPEC = 0, FD_REPORT = 3, FD_LOG_DIR = 4, FD_CGROUPS = 5 };

/* A list that grows as it is filled (a command may have any number of arguments and variables), with NULL
   after its last item (argv and envp are passed as they are). Fixed arrays of 4,096 made each watcher zero
   256 KiB at its start, 64 page faults, a fifth of its CPU time per step; and cut a longer list short. */
typedef struct string_list {
    char **items;
    size_t *lengths;
    int count, capacity;
} string_list;

typedef struct spec {
    char *path;
    string_list argv, env, masks, cgroup_dirs;
    char *cwd;
    int set_ids;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary groups, as many as the user has (Linux allows 65,536) */
    int group_count, group_capacity;
    sluice_rlimit rlimits[16];
    int rlimit_count;
    double timeout, grace;
    long long log_limit;
    char *cut_marker;
    char *status_name;
    char *stdout_name, *stderr_name;
    mode_t log_mode;
    int cgroup_fd_count;
    int cgroup_kill; /* cgroup v2: cgroup.kill empties a cgroup in one write (v1 has none) */
    int hold;
} spec;

static double now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- reading the specification: records "key=LENGTH:BYTES\n" ---- */

static char *read_all(int fd, size_t *length) {
    size_t capacity = 65536, used = 0;
    char *buffer = malloc(capacity + 1);
    if (buffer == NULL) {
        return NULL;
    }
    for (;;) {
        if (used == capacity) {
            capacity *= 2;
            char *grown = realloc(buffer, capacity + 1);
            if (grown == NULL) {
                free(buffer);
                return NULL;
            }
            buffer = grown;
        }
        ssize_t n = read(fd, buffer + used, capacity - used);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            break;
        }
        used += (size_t)n;
    }
    buffer[used] = 0;
    *length = used;
    return buffer;
}

/* Makes room in `*array` (`*capacity` elements of `size` bytes) for `needed`, doubling from 16; -1 when out of
   memory (then `*array` and `*capacity` are as they were). */
static int reserve(void **array, int *capacity, int needed, size_t size) {
    if (needed <= *capacity) {
        return 0;
    }
    int grown = *capacity > 0 ? *capacity : 16;
    while (grown < needed) {
        grown *= 2;
    }
    void *resized = realloc(*array, (size_t)grown * size);
    if (resized == NULL) {
        return -1;
    }
    *array = resized;
    *capacity = grown;
    return 0;
}

/* Appends `value`; -1 when out of memory. An empty list is made with `push(list, NULL, 0)` (just its NULL). */
static int push(string_list *list, char *value, size_t length) {
    /* Both arrays grow to the same size; `list->capacity` is the lengths' (never more than the items'). */
    int needed = list->count + 2, capacity = list->capacity;
    void *items = list->items, *lengths = list->lengths;
    int ok = reserve(&items, &capacity, needed, sizeof *list->items) == 0 &&
             reserve(&lengths, &list->capacity, needed, sizeof *list->lengths) == 0;
    list->items = items;
    list->lengths = lengths;
    if (!ok) {
        return -1;
    }
    if (value != NULL) {
        list->items[list->count] = value;
        list->lengths[list->count] = length;
        list->count++;
    }
    list->items[list->count] = NULL;
    return 0;
}

static int parse_spec(char *text, size_t length, spec *s) {
    memset(s, 0, sizeof *s);
    if (push(&s->argv, NULL, 0) != 0 || push(&s->env, NULL, 0) != 0 || push(&s->masks, NULL, 0) != 0 ||
        push(&s->cgroup_dirs, NULL, 0) != 0) {
        return -1;
    }
    s->grace = 10;
    s->log_mode = 0600;
    size_t i = 0;
    while (i < length) {
        char *key = text + i;
        char *eq = memchr(key, '=', length - i);
        if (eq == NULL) {
            return -1;
        }
        *eq = 0;
        char *colon = memchr(eq + 1, ':', length - (size_t)(eq + 1 - text));
        if (colon == NULL) {
            return -1;
        }
        *colon = 0;
        size_t size = strtoull(eq + 1, NULL, 10);
        char *value = colon + 1;
        if ((size_t)(value - text) + size >= length + 1) {
            return -1;
        }
        value[size] = 0; /* overwrites the record's newline */
        i = (size_t)(value - text) + size + 1;
        if (strcmp(key, "path") == 0) {
            s->path = value;
        } else if (strcmp(key, "argv") == 0) {
            if (push(&s->argv, value, size) != 0) {
                return -1;
            }
        } else if (strcmp(key, "env") == 0) {
            if (push(&s->env, value, size) != 0) {
                return -1;
            }
        } else if (strcmp(key, "cwd") == 0) {
            s->cwd = value;
        } else if (strcmp(key, "uid") == 0) {
            s->set_ids = 1;
            s->uid = (uid_t)strtoul(value, NULL, 10);
        } else if (strcmp(key, "gid") == 0) {
            s->gid = (gid_t)strtoul(value, NULL, 10);
        } else if (strcmp(key, "group") == 0) {
            void *groups = s->groups;
            int room = reserve(&groups, &s->group_capacity, s->group_count + 1, sizeof *s->groups);
            s->groups = groups;
            if (room != 0) {
                return -1;
            }
            s->groups[s->group_count++] = (gid_t)strtoul(value, NULL, 10);
        } else if (strcmp(key, "rlimit") == 0 && s->rlimit_count < 16) {
            char *soft_text = strchr(value, ' ');
            char *hard_text = soft_text ? strchr(soft_text + 1, ' ') : NULL;
            if (hard_text == NULL) {
                return -1;
            }
            sluice_rlimit *limit = &s->rlimits[s->rlimit_count++];
            limit->resource = atoi(value);
            limit->soft = soft_text[1] == '-' ? RLIM_INFINITY : (rlim_t)strtoull(soft_text + 1, NULL, 10);
            limit->hard = hard_text[1] == '-' ? RLIM_INFINITY : (rlim_t)strtoull(hard_text + 1, NULL, 10);
        } else if (strcmp(key, "timeout") == 0) {
            s->timeout = strtod(value, NULL);
        } else if (strcmp(key, "grace") == 0) {
            s->grace = strtod(value, NULL);
        } else if (strcmp(key, "log_limit") == 0) {
            s->log_limit = strtoll(value, NULL, 10);
        } else if (strcmp(key, "cut_marker") == 0) {
            s->cut_marker = value;
        } else if (strcmp(key, "mask") == 0) {
            if (push(&s->masks, value, size) != 0) {
                return -1;
            }
        } else if (strcmp(key, "status") == 0) {
            s->status_name = value;
        } else if (strcmp(key, "stdout") == 0) {
            s->stdout_name = value;
        } else if (strcmp(key, "stderr") == 0) {
            s->stderr_name = value;
        } else if (strcmp(key, "log_mode") == 0) {
            s->log_mode = (mode_t)strtoul(value, NULL, 8);
        } else if (strcmp(key, "cgroup_dir") == 0) {
            if (push(&s->cgroup_dirs, value, size) != 0) {
                return -1;
            }
        } else if (strcmp(key, "cgroup_fds") == 0) {
            s->cgroup_fd_count = atoi(value);
        } else if (strcmp(key, "cgroup_kill") == 0) {
            s->cgroup_kill = atoi(value);
        } else if (strcmp(key, "hold") == 0) {
            s->hold = atoi(value);
        }
    }
    return s->path != NULL && s->argv.count > 0 && s->status_name != NULL && s->stdout_name != NULL &&
                   s->stderr_name != NULL
               ? 0
               : -1;
}

/* ---- the log relay: cap, masking, write errors ---- */

typedef struct relay {
    int source;  /* the pipe's read end; -1 once at end of file */
    int sink;    /* the log file; -1 until the first byte */
    const char *name; /* the log file's name in the log directory */
    long long written, dropped;
    int cut, write_error;
    const spec *spec;
    char *carry; /* bytes that could still begin a secret */
    size_t carry_length;
} relay;

static void sink_write(relay *r, const char *bytes, size_t length) {
    if (r->write_error) {
        return; /* the log is already incomplete; the pipe is still drained */
    }
    if (r->sink < 0 && length > 0) {
        r->sink = openat(FD_LOG_DIR, r->name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, r->spec->log_mode);
        if (r->sink < 0 || fchmod(r->sink, r->spec->log_mode) != 0) {
            r->write_error = errno;
            return;
        }
    }
    while (length > 0) {
        ssize_t n = write(r->sink, bytes, length);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            r->write_error = n < 0 ? errno : EIO;
            return;
        }
        bytes += n;
        length -= (size_t)n;
    }
}

static void store(relay *r, const char *bytes, size_t length) {
    if (r->spec->log_limit <= 0) {
        sink_write(r, bytes, length);
        return;
    }
    long long room = r->spec->log_limit - r->written;
    if (room < 0) {
        room = 0;
    }
    if ((long long)length <= room) {
        sink_write(r, bytes, length);
        r->written += (long long)length;
        return;
    }
    sink_write(r, bytes, (size_t)room);
    r->written += room;
    if (!r->cut) {
        r->cut = 1;
        if (r->spec->cut_marker != NULL) {
            sink_write(r, r->spec->cut_marker, strlen(r->spec->cut_marker));
        }
    }
    r->dropped += (long long)length - room;
}

static size_t longest_mask(const spec *s) {
    size_t longest = 0;
    for (int i = 0; i < s->masks.count; i++) {
        if (s->masks.lengths[i] > longest) {
            longest = s->masks.lengths[i];
        }
    }
    return longest;
}

/* Masks what can be decided; unless `final`, keeps the bytes that could still begin a secret. */
static void masked_store(relay *r, const char *bytes, size_t length, int final) {
    const spec *s = r->spec;
    if (s->masks.count == 0) {
        store(r, bytes, length);
        return;
    }
    size_t total = r->carry_length + length;
    char *input = malloc(total + 1);
    if (input == NULL) {
        store(r, bytes, length);
        return;
    }
    memcpy(input, r->carry, r->carry_length);
    memcpy(input + r->carry_length, bytes, length);
    size_t longest = longest_mask(s);
    size_t safe_end = final ? total : (total > longest - 1 ? total - (longest - 1) : 0);
    char *output = malloc(total * 3 + 16);
    size_t out = 0, i = 0;
    while (i < safe_end) {
        int matched = 0;
        for (int m = 0; m < s->masks.count; m++) {
            size_t n = s->masks.lengths[m];
            if (n > 0 && total - i >= n && memcmp(input + i, s->masks.items[m], n) == 0) {
                memcpy(output + out, "***", 3);
                out += 3;
                i += n;
                matched = 1;
                break;
            }
        }
        if (!matched) {
            output[out++] = input[i++];
        }
    }
    store(r, output, out);
    free(r->carry);
    r->carry_length = total - i;
    r->carry = malloc(r->carry_length + 1);
    memcpy(r->carry, input + i, r->carry_length);
    free(output);
    free(input);
}

/* Moves what the pipe holds now; returns 0 at end of file. */
static int pump(relay *r) {
    char buffer[65536];
    for (int rounds = 0; r->source >= 0 && rounds < 16; rounds++) {
        ssize_t n = read(r->source, buffer, sizeof buffer);
        if (n > 0) {
            masked_store(r, buffer, (size_t)n, 0);
        } else if (n == 0) {
            close(r->source);
            r->source = -1;
            return 0;
        } else if (errno == EINTR) {
            continue;
        } else {
            return 1; /* EAGAIN: nothing more for now */
        }
    }
    return r->source >= 0;
}

static void finish_relay(relay *r) {
    /* What is left, without waiting for a writer that outlived the step. */
    while (r->source >= 0) {
        struct pollfd probe = { r->source, POLLIN, 0 };
        if (poll(&probe, 1, 0) <= 0 || !(probe.revents & (POLLIN | POLLHUP))) {
            break;
        }
        if (!pump(r)) {
            break;
        }
    }
    masked_store(r, "", 0, 1);
    if (r->dropped > 0) {
        char note[96];
        int n = snprintf(note, sizeof note, "\n[sluice: %lld more bytes were dropped]\n", r->dropped);
        sink_write(r, note, (size_t)n);
    }
}

/* ---- signals through a self-pipe ---- */

static int signal_pipe[2] = { -1, -1 };

static void on_signal(int signal_number) {
    int saved = errno;
    unsigned char byte = (unsigned char)signal_number;
    ssize_t ignored = write(signal_pipe[1], &byte, 1);
    (void)ignored;
    errno = saved;
}

/* ---- the status file ---- */

/* The status file: made once, before the step is spawned, with its 4 KiB allocated while there is room (a
   step that fills the disk must not take the record of its own ending with it). Every state is written in
   place over the whole of it, padded with spaces, in one pwrite: nothing is freed or allocated after the
   start, and no file is created, renamed or removed per state (file creation is what a short step's cost
   is made of). A reader that catches a write half-done sees invalid JSON and reads again. */
#define STATUS_SIZE 4096
static int status_fd = -1;

static void write_status(const spec *s, const char *json);

/* Made with its first state written at once, the whole 4 KiB of it: the blocks are reserved then (ext4 and
   xfs reserve them at write time, delayed allocation or not), so every later state fits even on a full
   disk. A reader that finds the file empty (in the microseconds before the write) reads again; one that
   finds it empty for good knows its watcher died before starting anything. */
static void open_status(const spec *s, const char *first) {
    /* A file of its own (a new inode, not the old one truncated): a watcher of an earlier try under this name,
       still finishing, writes to its own file, never over this one. */
    unlinkat(FD_LOG_DIR, s->status_name, 0);
    status_fd = openat(FD_LOG_DIR, s->status_name, O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (status_fd < 0) {
        status_fd = openat(FD_LOG_DIR, s->status_name, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    }
    write_status(s, first);
    /* Logs of an earlier try under the same name must not pass for this one's (the logs are made lazily). */
    unlinkat(FD_LOG_DIR, s->stdout_name, 0);
    unlinkat(FD_LOG_DIR, s->stderr_name, 0);
}

static void write_status(const spec *s, const char *json) {
    (void)s;
    if (status_fd < 0) {
        return;
    }
    char padded[STATUS_SIZE];
    size_t length = strlen(json);
    if (length > sizeof padded) {
        length = sizeof padded;
    }
    memset(padded, ' ', sizeof padded);
    memcpy(padded, json, length);
    ssize_t n;
    do {
        n = pwrite(status_fd, padded, sizeof padded, 0);
    } while (n < 0 && errno == EINTR);
}

static void report(const char *line) {
    ssize_t ignored = write(FD_REPORT, line, strlen(line));
    (void)ignored;
}

/* ---- cgroups: kill what is left ---- */

static void kill_cgroups(const spec *s) {
    for (int d = 0; d < s->cgroup_dirs.count; d++) {
        char path[4096];
        if (s->cgroup_kill) {
            snprintf(path, sizeof path, "%s/cgroup.kill", s->cgroup_dirs.items[d]);
            int fd = open(path, O_WRONLY | O_CLOEXEC);
            if (fd >= 0) {
                ssize_t ok = write(fd, "1", 1);
                close(fd);
                if (ok == 1) {
                    continue;
                }
            }
        }
        snprintf(path, sizeof path, "%s/cgroup.procs", s->cgroup_dirs.items[d]);
        for (int round = 0; round < 1000; round++) {
            int procs = open(path, O_RDONLY | O_CLOEXEC);
            if (procs < 0) {
                break;
            }
            char buffer[65536];
            ssize_t n = read(procs, buffer, sizeof buffer - 1);
            close(procs);
            if (n <= 0) {
                break;
            }
            buffer[n] = 0;
            int any = 0;
            for (char *line = strtok(buffer, "\n"); line != NULL; line = strtok(NULL, "\n")) {
                pid_t member = (pid_t)atoi(line);
                if (member > 0) {
                    kill(member, SIGKILL);
                    any = 1;
                }
            }
            if (!any) {
                break;
            }
            sched_yield();
        }
    }
}

static char line_buffer[256];

/* Watches one attempt described by `text`, with the descriptors in place (3 report, 4/5 logs, 6 status
   directory, 7... cgroups). Returns the exit code of the watcher. */
static int watch(char *text, size_t length) {
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    static spec s;
    if (text == NULL || parse_spec(text, length, &s) != 0) {
        report("failed 0 22\n");
        return 2;
    }
    if (pipe2(signal_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        report("failed 1 0\n");
        return 2;
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &action, NULL);
    sigaction(SIGINT, &action, NULL);
    sigaction(SIGUSR1, &action, NULL);

    int out_pipe[2], err_pipe[2];
    if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
        report("failed 1 0\n");
        return 2;
    }
    int cgroup_fds[256];
    int cgroup_fd_count = s.cgroup_fd_count > 256 ? 256 : s.cgroup_fd_count;
    for (int i = 0; i < cgroup_fd_count; i++) {
        cgroup_fds[i] = FD_CGROUPS + i;
    }
    sluice_spawn_request request;
    memset(&request, 0, sizeof request);
    request.path = s.path;
    request.argv = s.argv.items;
    request.envp = s.env.items;
    request.cwd = s.cwd;
    request.stdin_fd = -1;
    request.stdout_fd = out_pipe[1];
    request.stderr_fd = err_pipe[1];
    request.set_ids = s.set_ids;
    request.uid = s.uid;
    request.gid = s.gid;
    request.groups = s.groups;
    request.group_count = s.group_count;
    request.cgroup_fds = cgroup_fds;
    request.cgroup_fd_count = cgroup_fd_count;
    request.rlimits = s.rlimits;
    request.rlimit_count = s.rlimit_count;
    /* Held: the step is set up (cgroups joined, limits set) and waits for the engine's byte before its exec. */
    request.hold = s.hold;
    request.release_fd = FD_CGROUPS + cgroup_fd_count;
    sluice_spawn_failure failure;
    /* Before the step exists: whoever finds this file knows a watcher is starting it, and waits for the next
       state rather than take the step for never started (and start it a second time). */
    snprintf(line_buffer, sizeof line_buffer, "{\"version\":1,\"state\":\"starting\",\"shim_pid\":%d}\n", (int)getpid());
    open_status(&s, line_buffer);
    char line[8192];
    pid_t pid;
    if (s.hold) {
        /* Forked, not vforked: the engine hears "held" at once and goes on with its commit while the step is set
           up; how the start went (after the release) ends up in the status file, and "ended" on the pipe. */
        int failure_fd = -1;
        pid = sluice_spawn_held(&request, &failure_fd, &failure);
        close(request.release_fd);
        if (pid > 0) {
            snprintf(line, sizeof line, "held %d %d\n", (int)pid, (int)getpid());
            report(line);
            if (sluice_spawn_outcome(pid, failure_fd, &failure) != 0) {
                pid = 0; /* reported held: the failure is this attempt's ending */
            }
        }
    } else {
        pid = sluice_spawn(&request, &failure);
    }
    double started = now_seconds(); /* the exec (after the hold, if held) */
    close(out_pipe[1]);
    close(err_pipe[1]);
    for (int i = 0; i < cgroup_fd_count; i++) {
        close(cgroup_fds[i]);
    }
    if (pid <= 0) {
        snprintf(
            line, sizeof line,
            "{\"version\":1,\"state\":\"ended\",\"shim_pid\":%d,\"start_failed\":{\"stage\":%d,\"errno\":%d}}\n",
            (int)getpid(), failure.stage, failure.error);
        write_status(&s, line);
        if (pid == 0) {
            report("ended\n");
        } else {
            snprintf(line, sizeof line, "failed %d %d\n", failure.stage, failure.error);
            report(line);
        }
        return 0;
    }
    snprintf(
        line, sizeof line, "{\"version\":1,\"state\":\"running\",\"shim_pid\":%d,\"pid\":%d}\n", (int)getpid(), (int)pid);
    write_status(&s, line);
    if (!s.hold) {
        snprintf(line, sizeof line, "started %d %d\n", (int)pid, (int)getpid());
        report(line);
    }

    relay relays[2] = {
        { out_pipe[0], -1, s.stdout_name, 0, 0, 0, 0, &s, NULL, 0 },
        { err_pipe[0], -1, s.stderr_name, 0, 0, 0, 0, &s, NULL, 0 },
    };
    for (int i = 0; i < 2; i++) {
        fcntl(relays[i].source, F_SETFL, fcntl(relays[i].source, F_GETFL) | O_NONBLOCK);
    }
    int exit_fd = sluice_pidfd_open(pid);
    const char *stop = NULL;
    double kill_at = -1;
    int killed = 0;
    for (;;) {
        if (sluice_has_exited(pid) == 1) {
            break;
        }
        double now = now_seconds();
        if (stop == NULL && s.timeout > 0 && now - started >= s.timeout) {
            stop = "timeout";
            kill(-pid, SIGTERM);
            kill_at = now + s.grace;
        }
        if (kill_at >= 0 && !killed && now >= kill_at) {
            kill(-pid, SIGKILL);
            kill_cgroups(&s);
            killed = 1;
        }
        double next = -1;
        if (stop == NULL && s.timeout > 0) {
            next = started + s.timeout;
        }
        if (kill_at >= 0 && !killed && (next < 0 || kill_at < next)) {
            next = kill_at;
        }
        int wait_ms = next < 0 ? -1 : (int)((next - now) * 1000) + 1;
        if (exit_fd < 0 && (wait_ms < 0 || wait_ms > 50)) {
            wait_ms = 50; /* no pidfd on this kernel: poll the process */
        }
        struct pollfd fds[4];
        int count = 0;
        fds[count++] = (struct pollfd){ signal_pipe[0], POLLIN, 0 };
        if (exit_fd >= 0) {
            fds[count++] = (struct pollfd){ exit_fd, POLLIN, 0 };
        }
        for (int i = 0; i < 2; i++) {
            if (relays[i].source >= 0) {
                fds[count++] = (struct pollfd){ relays[i].source, POLLIN, 0 };
            }
        }
        if (poll(fds, (nfds_t)count, wait_ms) < 0 && errno != EINTR) {
            break;
        }
        for (int i = 0; i < 2; i++) {
            if (relays[i].source >= 0) {
                pump(&relays[i]);
            }
        }
        unsigned char signals[16];
        ssize_t got = read(signal_pipe[0], signals, sizeof signals);
        for (ssize_t k = 0; k < got; k++) {
            if (signals[k] == SIGUSR1 || (stop != NULL && strcmp(stop, "cancel") == 0 && !killed)) {
                if (stop == NULL) {
                    stop = "cancel";
                }
                kill(-pid, SIGKILL);
                kill_cgroups(&s);
                killed = 1;
            } else if (stop == NULL) {
                stop = "cancel";
                kill(-pid, SIGTERM);
                kill_at = now_seconds() + s.grace;
            }
        }
    }
    /* The main process is a zombie now, which pins its process group id: kill what it left there. */
    kill(-pid, SIGKILL);
    int status = 0;
    struct rusage usage;
    memset(&usage, 0, sizeof usage);
    while (wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
    }
    double wall = now_seconds() - started;
    struct timespec ended_at; /* the wall clock: an ending read later (its engine died) is dated by this */
    clock_gettime(CLOCK_REALTIME, &ended_at);
    kill_cgroups(&s);
    finish_relay(&relays[0]);
    finish_relay(&relays[1]);
    char exit_code[16] = "null", signal_number[16] = "null";
    if (WIFEXITED(status)) {
        snprintf(exit_code, sizeof exit_code, "%d", WEXITSTATUS(status));
    } else if (WIFSIGNALED(status)) {
        snprintf(signal_number, sizeof signal_number, "%d", WTERMSIG(status));
    }
    snprintf(
        line, sizeof line,
        "{\"version\":1,\"state\":\"ended\",\"shim_pid\":%d,\"pid\":%d,\"exit_code\":%s,\"signal\":%s,"
        "\"user_cpu\":%.6f,\"system_cpu\":%.6f,\"max_rss_bytes\":%lld,\"wall_seconds\":%.6f,"
        "\"stop\":%s%s%s,\"killed\":%s,\"dropped_stdout\":%lld,\"dropped_stderr\":%lld,"
        "\"write_error_stdout\":%d,\"write_error_stderr\":%d,\"ended_at\":%lld.%06ld}\n",
        (int)getpid(), (int)pid, exit_code, signal_number,
        (double)usage.ru_utime.tv_sec + (double)usage.ru_utime.tv_usec / 1e6,
        (double)usage.ru_stime.tv_sec + (double)usage.ru_stime.tv_usec / 1e6, (long long)usage.ru_maxrss * 1024, wall,
        stop ? "\"" : "", stop ? stop : "null", stop ? "\"" : "", killed ? "true" : "false", relays[0].dropped,
        relays[1].dropped, relays[0].write_error, relays[1].write_error, (long long)ended_at.tv_sec,
        ended_at.tv_nsec / 1000);
    write_status(&s, line);
    /* The engine waits on this pipe rather than on this process's exit, which costs it one wake-up later. */
    report("ended\n");
    return 0;
}

/* ---- the spawner: one exec per engine, one fork per attempt ---- */

/* Reads exactly `length` bytes; -1 on end of input or error. */
static int read_exact(int fd, char *buffer, size_t length) {
    size_t done = 0;
    while (done < length) {
        ssize_t n = read(fd, buffer + done, length - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return -1;
        }
        done += (size_t)n;
    }
    return 0;
}

/* Moves the received descriptors to 3, 4, 5... (in order), by way of numbers above any of them. */
static int place_descriptors(const int *fds, int count) {
    int high[SLUICE_SPAWNER_MAX_FDS];
    for (int i = 0; i < count; i++) {
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 1000);
        if (high[i] < 0) {
            return -1;
        }
        close(fds[i]);
    }
    for (int i = 0; i < count; i++) {
        if (dup2(high[i], FD_REPORT + i) < 0) { /* dup2 clears close-on-exec: what the watcher expects */
            return -1;
        }
        close(high[i]);
    }
    return 0;
}

/*
 * `sluice-shim --spawner`: the engine starts one per process and sends it each attempt over the Unix socket
 * on descriptor 0: a header (the specification's length and the number of descriptors) carrying the
 * descriptors (report pipe, status and log directory, cgroups) as SCM_RIGHTS, then the specification. It forks
 * a watcher per attempt, which becomes exactly what `sluice-shim` run directly would be: its own session, its
 * descriptors in place, no exec (and so none of an exec's cost per step). Watchers outlive the spawner and
 * the engine; the spawner exits when the engine closes the socket (or dies).
 */
static int spawner(char *role) {
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    signal(SIGCHLD, SIG_IGN); /* watchers are reaped as they end; nobody here waits for them */
    for (;;) {
        uint32_t header[2];
        int fds[SLUICE_SPAWNER_MAX_FDS];
        int count = sluice_receive_with_fds(FD_SPEC, header, sizeof header, fds, SLUICE_SPAWNER_MAX_FDS);
        if (count < 0) {
            return errno == 0 ? 0 : 1; /* the engine is gone */
        }
        size_t length = header[0];
        char *text = length < (64u << 20) ? malloc(length + 1) : NULL;
        if (text == NULL || (size_t)count != header[1] || read_exact(FD_SPEC, text, length) != 0) {
            if (count > 0) {
                ssize_t ignored = write(fds[0], "failed 0 22\n", 12);
                (void)ignored;
            }
            for (int i = 0; i < count; i++) {
                close(fds[i]);
            }
            free(text);
            if (text == NULL && length < (64u << 20)) {
                continue;
            }
            return 1;
        }
        text[length] = 0;
        pid_t child = fork();
        if (child == 0) {
            signal(SIGCHLD, SIG_DFL);
            setsid();
            /* Seen as a watcher in ps and top: "sluice-shim --watcher" (same length as --spawner). */
            memcpy(role, "--watcher", 9);
            prctl(PR_SET_NAME, "sluice-watcher");
            int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
            if (null >= 0 && null != 0) {
                dup2(null, 0);
                close(null);
            }
            if (place_descriptors(fds, count) != 0) {
                _exit(2);
            }
            _exit(watch(text, length));
        }
        if (child < 0) {
            char line[64];
            snprintf(line, sizeof line, "failed 1 %d\n", errno);
            ssize_t ignored = write(fds[0], line, strlen(line));
            (void)ignored;
        }
        for (int i = 0; i < count; i++) {
            close(fds[i]);
        }
        free(text);
    }
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "--spawner") == 0) {
        return spawner(argv[1]);
    }
    size_t length = 0;
    char *text = read_all(FD_SPEC, &length);
    if (text == NULL) {
        report("failed 0 22\n");
        return 2;
    }
    return watch(text, length);
}
