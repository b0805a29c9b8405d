# Sourced, not run: `debian_apt DIR ARCH SUITE` sets the array apt_opts to the options of a
# private apt reading Debian SUITE (main) for ARCH, with its own sources, package lists, cache
# and (empty) status file under DIR: it never reads or changes the machine's package state, so
# it runs without root, on Debian and on Ubuntu alike (whose packages are named and built
# otherwise). Use as `apt-get "${apt_opts[@]}" update` or `apt-cache "${apt_opts[@]}" depends`.
# Needs debian-archive-keyring (scripts/setup.sh installs it).
debian_apt() {
  local dir arch=$2 suite=$3
  # apt reads relative paths from its own directories (/etc/apt, /var/lib/apt).
  dir=$(realpath -m "$1")
  mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial" "$dir/parts"
  touch "$dir/status"
  echo "deb [arch=$arch signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian $suite main" \
    >"$dir/sources.list"
  apt_opts=(-q
    -o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/parts"
    -o "Dir::State=$dir/state" -o "Dir::State::status=$dir/status"
    -o "Dir::Cache=$dir/cache" -o "APT::Architecture=$arch" -o "APT::Architectures=$arch"
    -o "APT::Sandbox::User=$(id -un)" -o "Debug::NoLocking=true")
}
