/* Handing descriptors to the spawner over a Unix socket (SCM_RIGHTS). */
#define _GNU_SOURCE
#include "sluice_spawn.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int sluice_socketpair_cloexec(int fds[2]) { return socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds); }

int sluice_send_with_fds(int socket_fd, const void *data, size_t length, const int *fds, int count) {
    if (count < 0 || count > SLUICE_SPAWNER_MAX_FDS || length == 0) {
        errno = EINVAL;
        return -1;
    }
    char control[CMSG_SPACE(sizeof(int) * SLUICE_SPAWNER_MAX_FDS)];
    memset(control, 0, sizeof control);
    struct iovec iov = { (void *)data, length };
    struct msghdr message;
    memset(&message, 0, sizeof message);
    message.msg_iov = &iov;
    message.msg_iovlen = 1;
    if (count > 0) {
        message.msg_control = control;
        message.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)count);
        struct cmsghdr *header = CMSG_FIRSTHDR(&message);
        header->cmsg_level = SOL_SOCKET;
        header->cmsg_type = SCM_RIGHTS;
        header->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)count);
        memcpy(CMSG_DATA(header), fds, sizeof(int) * (size_t)count);
    }
    size_t sent = 0;
    while (sent < length) {
        ssize_t n = sendmsg(socket_fd, &message, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return -1;
        }
        sent += (size_t)n;
        /* The descriptors went with the first bytes; the rest is plain data. */
        iov.iov_base = (char *)data + sent;
        iov.iov_len = length - sent;
        message.msg_control = NULL;
        message.msg_controllen = 0;
    }
    return 0;
}

int sluice_receive_with_fds(int socket_fd, void *data, size_t length, int *fds, int capacity) {
    char control[CMSG_SPACE(sizeof(int) * SLUICE_SPAWNER_MAX_FDS)];
    size_t received = 0;
    int count = 0;
    while (received < length) {
        struct iovec iov = { (char *)data + received, length - received };
        struct msghdr message;
        memset(&message, 0, sizeof message);
        message.msg_iov = &iov;
        message.msg_iovlen = 1;
        message.msg_control = control;
        message.msg_controllen = sizeof control;
        ssize_t n = recvmsg(socket_fd, &message, MSG_CMSG_CLOEXEC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            for (int i = 0; i < count; i++) {
                close(fds[i]);
            }
            if (n == 0) {
                errno = 0;
            }
            return -1;
        }
        for (struct cmsghdr *header = CMSG_FIRSTHDR(&message); header != NULL;
             header = CMSG_NXTHDR(&message, header)) {
            if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
                continue;
            }
            int arrived = (int)((header->cmsg_len - CMSG_LEN(0)) / sizeof(int));
            int *incoming = (int *)CMSG_DATA(header);
            for (int i = 0; i < arrived; i++) {
                if (count < capacity) {
                    fds[count++] = incoming[i];
                } else {
                    close(incoming[i]);
                }
            }
        }
        received += (size_t)n;
    }
    return count;
}
