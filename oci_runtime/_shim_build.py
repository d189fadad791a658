"""cffi build script for oci_runtime._shim: thin wrappers for syscalls Python's stdlib lacks.

Every wrapper returns the syscall's result, or -errno on failure. No logic lives here;
oci_runtime.syscalls turns the results into OSError with the path involved. The one wrapper that
is more than a call, oci_fork_into_cgroup, is os.fork() with clone3's CLONE_INTO_CGROUP: it runs
the interpreter's fork hooks around the syscall exactly as os.fork() does.
"""
from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    struct oci_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
    struct oci_sched_attr { uint32_t size; uint32_t sched_policy; uint64_t sched_flags; int32_t sched_nice; uint32_t sched_priority; uint64_t sched_runtime; uint64_t sched_deadline; uint64_t sched_period; };
    struct oci_mount_attr { uint64_t attr_set; uint64_t attr_clr; uint64_t propagation; uint64_t userns_fd; };

    int oci_unshare(int flags);
    int oci_setns(int fd, int nstype);
    int oci_mount(const char *source, const char *target, const char *fstype,
                  unsigned long flags, const char *data);
    int oci_umount2(const char *target, int flags);
    int oci_pivot_root(const char *new_root, const char *put_old);
    int oci_openat2(int dirfd, const char *path, struct oci_open_how *how);
    int oci_open_tree(int dirfd, const char *path, unsigned int flags);
    int oci_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                       const char *to_path, unsigned int flags);
    int oci_mount_setattr(int dirfd, const char *path, unsigned int flags, struct oci_mount_attr *attr);
    int oci_close_range(unsigned int first, unsigned int last, unsigned int flags);
    int oci_fork_into_cgroup(int cgroup_fd);
    int oci_fsopen(const char *fsname, unsigned int flags);
    int oci_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux);
    int oci_fsmount(int fd, unsigned int flags, unsigned int attr_flags);
    int oci_sethostname(const char *name, size_t len);
    int oci_setdomainname(const char *name, size_t len);
    int oci_join_session_keyring(const char *name);
    int oci_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5);
    int oci_ioprio_set(int which, int who, int ioprio);
    int oci_personality(unsigned long persona);
    int oci_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode);
    int oci_sched_setattr(int pid, struct oci_sched_attr *attr, unsigned int flags);

    /* libseccomp (seccomp.h), bound as is: its functions return -errno themselves. */
    typedef void *scmp_filter_ctx;
    typedef uint64_t scmp_datum_t;
    enum scmp_filter_attr {
        SCMP_FLTATR_ACT_DEFAULT, SCMP_FLTATR_ACT_BADARCH, SCMP_FLTATR_CTL_NNP, SCMP_FLTATR_CTL_TSYNC,
        SCMP_FLTATR_API_TSKIP, SCMP_FLTATR_CTL_LOG, SCMP_FLTATR_CTL_SSB, SCMP_FLTATR_CTL_OPTIMIZE,
        SCMP_FLTATR_API_SYSRAWRC, ...
    };
    enum scmp_compare {
        SCMP_CMP_NE, SCMP_CMP_LT, SCMP_CMP_LE, SCMP_CMP_EQ, SCMP_CMP_GE, SCMP_CMP_GT, SCMP_CMP_MASKED_EQ, ...
    };
    struct scmp_arg_cmp { unsigned int arg; enum scmp_compare op; scmp_datum_t datum_a; scmp_datum_t datum_b; };
    struct scmp_version { unsigned int major; unsigned int minor; unsigned int micro; };
    #define SCMP_ACT_KILL_PROCESS ...
    #define SCMP_ACT_KILL_THREAD ...
    #define SCMP_ACT_KILL ...
    #define SCMP_ACT_TRAP ...
    #define SCMP_ACT_NOTIFY ...
    #define SCMP_ACT_LOG ...
    #define SCMP_ACT_ALLOW ...
    #define __NR_SCMP_ERROR ...

    const struct scmp_version *seccomp_version(void);
    scmp_filter_ctx seccomp_init(uint32_t def_action);
    void seccomp_release(scmp_filter_ctx ctx);
    uint32_t seccomp_arch_native(void);
    uint32_t seccomp_arch_resolve_name(const char *arch_name);
    int seccomp_arch_add(scmp_filter_ctx ctx, uint32_t arch_token);
    int seccomp_attr_set(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t value);
    int seccomp_attr_get(scmp_filter_ctx ctx, enum scmp_filter_attr attr, uint32_t *value);
    int seccomp_syscall_resolve_name(const char *name);
    int seccomp_rule_add_array(scmp_filter_ctx ctx, uint32_t action, int syscall, unsigned int arg_cnt,
                               const struct scmp_arg_cmp *arg_array);
    int seccomp_export_pfc(scmp_filter_ctx ctx, int fd);
    int seccomp_export_bpf(scmp_filter_ctx ctx, int fd);

    int oci_bpf(int cmd, void *attr, unsigned int size);
    int oci_seccomp_set_filter(unsigned int flags, unsigned short len, void *filter);
    """
)

ffibuilder.set_source(
    "oci_runtime._shim",
    r"""
    #include <errno.h>
    #include <sched.h>
    #include <signal.h>
    #include <stdint.h>
    #include <unistd.h>
    #include <sys/mount.h>
    #include <sys/personality.h>
    #include <sys/prctl.h>
    #include <sys/syscall.h>
    #include <seccomp.h>

    struct oci_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
    struct oci_sched_attr { uint32_t size; uint32_t sched_policy; uint64_t sched_flags; int32_t sched_nice; uint32_t sched_priority; uint64_t sched_runtime; uint64_t sched_deadline; uint64_t sched_period; };
    struct oci_mount_attr { uint64_t attr_set; uint64_t attr_clr; uint64_t propagation; uint64_t userns_fd; };

    #define RET(expr) do { long r_ = (expr); return r_ < 0 ? -errno : (int)r_; } while (0)

    static int oci_unshare(int flags) { RET(unshare(flags)); }
    static int oci_setns(int fd, int nstype) { RET(setns(fd, nstype)); }
    static int oci_mount(const char *source, const char *target, const char *fstype,
                         unsigned long flags, const char *data)
    { RET(mount(source, target, fstype, flags, data)); }
    static int oci_umount2(const char *target, int flags) { RET(umount2(target, flags)); }
    static int oci_pivot_root(const char *new_root, const char *put_old)
    { RET(syscall(SYS_pivot_root, new_root, put_old)); }
    static int oci_openat2(int dirfd, const char *path, struct oci_open_how *how)
    { RET(syscall(SYS_openat2, dirfd, path, how, sizeof(*how))); }
    static int oci_open_tree(int dirfd, const char *path, unsigned int flags)
    { RET(syscall(SYS_open_tree, dirfd, path, flags)); }
    static int oci_move_mount(int from_dirfd, const char *from_path, int to_dirfd,
                              const char *to_path, unsigned int flags)
    { RET(syscall(SYS_move_mount, from_dirfd, from_path, to_dirfd, to_path, flags)); }
    static int oci_mount_setattr(int dirfd, const char *path, unsigned int flags, struct oci_mount_attr *attr)
    { RET(syscall(SYS_mount_setattr, dirfd, path, flags, attr, sizeof(*attr))); }
    static int oci_close_range(unsigned int first, unsigned int last, unsigned int flags)
    { RET(syscall(SYS_close_range, first, last, flags)); }
    /* struct clone_args of <linux/sched.h> (which clashes with <sched.h>), up to the cgroup field */
    struct oci_clone_args { uint64_t flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls,
                            set_tid, set_tid_size, cgroup; };
    #define OCI_CLONE_INTO_CGROUP 0x200000000ULL
    /* os.fork(), the child starting in the cgroup2 directory cgroup_fd: no migration, so no wait for
       the global cgroup migration lock. cffi calls us without the GIL; the fork hooks need it. */
    static int oci_fork_into_cgroup(int cgroup_fd) {
        struct oci_clone_args args = {0};
        args.flags = OCI_CLONE_INTO_CGROUP;
        args.exit_signal = SIGCHLD;
        args.cgroup = (uint64_t)cgroup_fd;
        PyGILState_STATE gil = PyGILState_Ensure();
        PyOS_BeforeFork();
        long pid = syscall(SYS_clone3, &args, sizeof(args));
        int err = errno;
        if (pid == 0)
            PyOS_AfterFork_Child();
        else
            PyOS_AfterFork_Parent();
        PyGILState_Release(gil);
        return pid < 0 ? -err : (int)pid;
    }
    static int oci_fsopen(const char *fsname, unsigned int flags) { RET(syscall(SYS_fsopen, fsname, flags)); }
    static int oci_fsconfig(int fd, unsigned int cmd, const char *key, const char *value, int aux)
    { RET(syscall(SYS_fsconfig, fd, cmd, key, value, aux)); }
    static int oci_fsmount(int fd, unsigned int flags, unsigned int attr_flags)
    { RET(syscall(SYS_fsmount, fd, flags, attr_flags)); }
    static int oci_sethostname(const char *name, size_t len) { RET(sethostname(name, len)); }
    static int oci_setdomainname(const char *name, size_t len) { RET(setdomainname(name, len)); }
    static int oci_join_session_keyring(const char *name)
    { RET(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name)); }
    static int oci_prctl(int option, unsigned long arg2, unsigned long arg3, unsigned long arg4, unsigned long arg5)
    { RET(prctl(option, arg2, arg3, arg4, arg5)); }
    static int oci_ioprio_set(int which, int who, int ioprio) { RET(syscall(SYS_ioprio_set, which, who, ioprio)); }
    static int oci_personality(unsigned long persona) { RET(personality(persona)); }
    static int oci_set_mempolicy(int mode, const unsigned long *nodemask, unsigned long maxnode) {
        RET(syscall(SYS_set_mempolicy, mode, nodemask, maxnode));
    }
    static int oci_sched_setattr(int pid, struct oci_sched_attr *attr, unsigned int flags)
    { RET(syscall(SYS_sched_setattr, pid, attr, flags)); }
    static int oci_bpf(int cmd, void *attr, unsigned int size) { RET(syscall(SYS_bpf, cmd, attr, size)); }
    /* seccomp(SECCOMP_SET_MODE_FILTER, flags, &(struct sock_fprog){len, filter}): a compiled program */
    struct oci_sock_fprog { unsigned short len; void *filter; };
    static int oci_seccomp_set_filter(unsigned int flags, unsigned short len, void *filter) {
        struct oci_sock_fprog prog = { len, filter };
        RET(syscall(SYS_seccomp, 1 /* SECCOMP_SET_MODE_FILTER */, flags, &prog));
    }
    """,
    libraries=["seccomp"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
