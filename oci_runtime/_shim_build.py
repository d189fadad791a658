"""cffi build script for oci_runtime._shim: thin wrappers for syscalls Python's stdlib lacks.

Every wrapper returns the syscall's result, or -errno on failure. No logic lives here;
oci_runtime.syscalls turns the results into OSError with the path involved.
"""
from cffi import FFI

ffibuilder = FFI()

ffibuilder.cdef(
    """
    struct oci_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
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
    int oci_sethostname(const char *name, size_t len);
    int oci_setdomainname(const char *name, size_t len);
    int oci_join_session_keyring(const char *name);
    """
)

ffibuilder.set_source(
    "oci_runtime._shim",
    r"""
    #include <errno.h>
    #include <sched.h>
    #include <stdint.h>
    #include <unistd.h>
    #include <sys/mount.h>
    #include <sys/syscall.h>

    struct oci_open_how { uint64_t flags; uint64_t mode; uint64_t resolve; };
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
    static int oci_sethostname(const char *name, size_t len) { RET(sethostname(name, len)); }
    static int oci_setdomainname(const char *name, size_t len) { RET(setdomainname(name, len)); }
    static int oci_join_session_keyring(const char *name)
    { RET(syscall(SYS_keyctl, 1 /* KEYCTL_JOIN_SESSION_KEYRING */, name)); }
    """,
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
