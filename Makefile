# The README's two commands: `make demo` and `make test` (as root on Debian 12).
VENV   := .venv
PY     := $(VENV)/bin/python
BUNDLE := bundles/busybox
APT    := build-essential python3-dev python3-venv libcap-dev libseccomp-dev busybox-static runc \
          golang-github-opencontainers-specs-dev podman conmon containerd iproute2

.PHONY: demo test setup deps install rootfs bench

demo: setup
	$(VENV)/bin/oci-runtime run --bundle $(BUNDLE) demo-$$$$

test: setup
	$(VENV)/bin/pytest -q

bench: setup
	$(PY) bench/bench.py --stages --write

setup: deps install rootfs

deps:
	@missing=$$(for p in $(APT); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Debian's own Python: built statically and with PGO, it starts 1.5 ms sooner than a shared-libpython
# build (pyenv's), and every oci-runtime command starts one or two interpreters.
install:
	[ -x $(PY) ] || /usr/bin/python3 -m venv $(VENV)
	# --no-cache-dir: pip's cache may hold a python-prctl wheel another CPython 3.11 built (same tag),
	# linked with a RUNPATH into that Python's lib dir (tests/test_sealed.py)
	$(PY) -m pip install -q --disable-pip-version-check --no-cache-dir . pytest hypothesis
	sed -i '1s|^\(#!.*/python[0-9.]*\)$$|\1 -IS|' $(VENV)/bin/oci-runtime  # see bin/oci-runtime

rootfs: $(BUNDLE)/rootfs/bin/busybox

$(BUNDLE)/rootfs/bin/busybox: bundles/make-rootfs
	bundles/make-rootfs $(BUNDLE)/rootfs
