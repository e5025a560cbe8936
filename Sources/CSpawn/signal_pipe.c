#define _GNU_SOURCE
#include "sluice_spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile int signal_pipe_write_fd = -1;
static int signal_pipe_read_fd = -1;

/* Writes the signal number as one byte; async-signal-safe and errno-preserving. */
static void signal_pipe_handler(int signal_number) {
    int saved = errno;
    unsigned char byte = (unsigned char)signal_number;
    ssize_t ignored = write(signal_pipe_write_fd, &byte, 1);
    (void)ignored;
    errno = saved;
}

int sluice_signal_pipe_install(const int *signals, int count) {
    if (signal_pipe_read_fd < 0) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) {
            return -1;
        }
        signal_pipe_read_fd = fds[0];
        signal_pipe_write_fd = fds[1];
    }
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = signal_pipe_handler;
    sigemptyset(&action.sa_mask);
    for (int i = 0; i < count; i++) {
        action.sa_flags = SA_RESTART | (signals[i] == SIGCHLD ? SA_NOCLDSTOP : 0);
        if (sigaction(signals[i], &action, NULL) != 0) {
            return -1;
        }
    }
    return signal_pipe_read_fd;
}

int sluice_signal_default(int signal_number) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = SIG_DFL;
    sigemptyset(&action.sa_mask);
    return sigaction(signal_number, &action, NULL);
}

int sluice_signal_save(int signal_number, sluice_saved_action *saved) {
    return sigaction(signal_number, NULL, &saved->action);
}

int sluice_signal_restore(int signal_number, const sluice_saved_action *saved) {
    return sigaction(signal_number, &saved->action, NULL);
}
