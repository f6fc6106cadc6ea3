/* What a container may ask of the kernel. Each command makes one system call and prints
 * "<command> ok" or "<command> <errno name>"; the tests read that line. Built static, since
 * the test images hold nothing but busybox.
 *
 *   probe clone FLAGS         clone(FLAGS | SIGCHLD); the child prints its CapEff
 *   probe clone3 FLAGS        clone3 with FLAGS
 *   probe unshare FLAGS       unshare(FLAGS)
 *   probe socket FAMILY TYPE  socket(FAMILY, TYPE, 0)
 *   probe personality VALUE   personality(VALUE)
 *
 * Numbers are read by strtoul with base 0, so 0x10000000 works.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif

/* struct clone_args of linux/sched.h, whose header clashes with glibc's sched.h. */
struct clone_args_v0 {
    uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls;
};

static int report(const char *what, long rc) {
    if (rc < 0) {
        printf("%s %s\n", what, strerrorname_np(errno));
    } else {
        printf("%s ok\n", what);
    }
    fflush(stdout);
    return 0;
}

static void child_caps(void) {
    char line[256];
    FILE *status = fopen("/proc/self/status", "r");
    while (status && fgets(line, sizeof line, status)) {
        if (strncmp(line, "CapEff:", 7) == 0) {
            printf("child %s", line);
        }
    }
    fflush(stdout);
    _exit(0);
}

static int reap(const char *what, long pid) {
    if (pid == 0) {
        child_caps();
    }
    if (pid > 0) {
        waitpid((pid_t)pid, NULL, 0);
    }
    return report(what, pid);
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: probe clone|clone3|unshare|socket|personality ARGS\n");
        return 2;
    }
    const char *cmd = argv[1];
    unsigned long value = strtoul(argv[2], NULL, 0);
    if (strcmp(cmd, "clone") == 0) {
        return reap(cmd, syscall(SYS_clone, value | SIGCHLD, 0, 0, 0, 0));
    }
    if (strcmp(cmd, "clone3") == 0) {
        struct clone_args_v0 args = {.flags = value, .exit_signal = SIGCHLD};
        return reap(cmd, syscall(SYS_clone3, &args, sizeof args));
    }
    if (strcmp(cmd, "unshare") == 0) {
        return report(cmd, unshare((int)value));
    }
    if (strcmp(cmd, "socket") == 0 && argc > 3) {
        return report(cmd, socket((int)value, (int)strtoul(argv[3], NULL, 0), 0));
    }
    if (strcmp(cmd, "personality") == 0) {
        return report(cmd, personality(value));
    }
    fprintf(stderr, "probe: unknown command %s\n", cmd);
    return 2;
}
