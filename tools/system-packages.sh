#!/bin/sh
# System (Debian) packages the tests need beside the Python ones: run as root by
# `make setup` (skipped, with a note, for anyone else). Tests whose server cannot be
# had here skip with the reason.
#
#   openssh-server, openssh-client  sshd on simulated hosts (tests/test_cluster_ssh.py:
#                                   kind: ssh profiles; bench/cluster_start/)
#   iproute2                        ip netns for those hosts (and bench/rehearsal/)
#   slurm-wlm, munge                a single-host SLURM (slurmctld, slurmd, munged) for the
#                                   kind: slurm tests (tests/_servers.py, test_cluster_slurm.py)
#
# Add a package to PACKAGES with a line above saying which tests need it.
set -eu

PACKAGES="openssh-server openssh-client iproute2 slurm-wlm munge"

if [ "$(id -u)" != 0 ]; then
    echo "tools/system-packages.sh: not root, so $PACKAGES are not installed here; tests that need them skip with the reason"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "tools/system-packages.sh: no apt-get (not Debian/Ubuntu): install $PACKAGES yourself; tests that need them skip otherwise"
    exit 0
fi
missing=""
for package in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing="$missing $package"
done
if [ -z "$missing" ]; then
    exit 0
fi
echo "tools/system-packages.sh: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# Another apt may hold the lock (a second developer's setup): wait for it rather than fail.
apt-get -o DPkg::Lock::Timeout=900 update -qq
apt-get -o DPkg::Lock::Timeout=900 install -y -qq --no-install-recommends $missing
