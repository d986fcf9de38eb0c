#!/usr/bin/env bash
# Build the Debian package of edgeauth with dpkg-deb alone (no cargo-deb to install).
#
#   scripts/package.sh                     cargo build --release --locked, then the .deb
#   EDGEAUTH_BIN=path scripts/package.sh   package that binary instead of building one
#                                          (tests/package.rs packages the binary it tests)
#   EDGEAUTH_DEB_DIR=dir                   where the .deb goes (default target/debian, or
#                                          $CARGO_TARGET_DIR/debian)
#
# Prints the path of target/debian/edgeauth_<version>_<arch>.deb as its last line of stdout
# (everything else goes to stderr). The package holds:
#   /usr/bin/edgeauth                      the binary, stripped
#   /lib/systemd/system/edgeauth.service   deploy/edgeauth.service with the binary at
#                                          /usr/bin and the settings file below named
#   /etc/edgeauth/edgeauth.toml            deploy/edgeauth.toml.example, a conffile
#   /usr/share/doc/edgeauth/               copyright, changelog, README, docs/ (the pages it links)
# and deploy/debian/{postinst,prerm,postrm}: the edgeauth system user, /var/lib/edgeauth
# (0700), the settings file 0640 root:edgeauth; nothing enabled or started; purge removes
# the user, the data directory and the settings. The maintainer is DEBFULLNAME <DEBEMAIL>,
# else git's user.name <user.email> (else placeholders: no git is needed).
set -euo pipefail
cd "$(dirname "$0")/.."
# The staged tree's modes become the installed ones: not a private umask's 0700 and 0600.
umask 022

target=${CARGO_TARGET_DIR:-target}
out=${EDGEAUTH_DEB_DIR:-$target/debian}

pkgid=$(cargo pkgid --quiet)
cargo_version=${pkgid##*[#@]}
# Debian sorts a Cargo pre-release (1.0.0-rc.1) before its release only with a tilde.
version=${cargo_version/-/\~}
arch=$(dpkg --print-architecture)
# git answers what it can; a checkout without git, or without a user configured, still builds.
git_or() {
  local fallback=$1
  shift
  git "$@" 2>/dev/null || echo "$fallback"
}
maintainer_name=${DEBFULLNAME:-$(git_or "edgeauth maintainers" config user.name)}
maintainer_email=${DEBEMAIL:-$(git_or "root@localhost" config user.email)}
maintainer="$maintainer_name <$maintainer_email>"
# File dates and the changelog's from the commit, so one commit packages the same bytes.
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git_or "$(date +%s)" log -1 --format=%ct)}
commit=$(git_or unknown rev-parse --short HEAD)

if [ -n "${EDGEAUTH_BIN:-}" ]; then
  bin=$EDGEAUTH_BIN
else
  echo "package.sh: cargo build --release --locked" >&2
  cargo build --release --locked
  bin=$target/release/edgeauth
fi
if [ "$("$bin" --version)" != "edgeauth $cargo_version" ]; then
  echo "package.sh: $bin --version says '$("$bin" --version)', Cargo.toml $cargo_version" >&2
  exit 1
fi

name=edgeauth_${version}_${arch}
root=$out/$name
rm -rf "$root"
mkdir -p "$root/DEBIAN" "$root/usr/bin" "$root/lib/systemd/system" "$root/etc/edgeauth" \
  "$root/usr/share/doc/edgeauth"

# dh_strip's flags for an executable.
strip --remove-section=.comment --remove-section=.note -o "$root/usr/bin/edgeauth" "$bin"
chmod 0755 "$root/usr/bin/edgeauth"

# The header comment of a deploy/ file says how to install it by hand: the package's copy
# says what the package did instead. $1: the new header; the old one ends at the first
# line matching $2, which is kept.
with_header() {
  awk -v header="$1" -v end="$2" '
    !kept && $0 ~ end { print header; kept = 1 }
    kept { print }
    END { if (!kept) exit 1 }'
}

unit_header=$(
  cat <<'EOF'
# systemd unit for edgeauth, installed by its Debian package (scripts/package.sh made it
# from deploy/edgeauth.service). Change it with `systemctl edit edgeauth`, not here.
#
# Settings: /etc/edgeauth/edgeauth.toml, overridden by EDGEAUTH_<NAME>=value lines in
# /etc/edgeauth/edgeauth.env (secrets go there, mode 0640 root:edgeauth). Run
# `edgeauth migrate` before the first start and after each upgrade, then
# `systemctl enable --now edgeauth`: docs/DEPLOYMENT.md, "Install the Debian package".
EOF
)
# The binary where Debian puts it; the TOML file always read (the environment file still
# overrides it), so the comment that calls it optional goes.
with_header "$unit_header" '^$' <deploy/edgeauth.service | awk '
  /^# The TOML file is optional: / { skip = 2 }
  skip > 0 { skip--; next }
  $0 == "ExecStart=/usr/local/bin/edgeauth serve" { $0 = "ExecStart=/usr/bin/edgeauth serve" }
  $0 == "EnvironmentFile=-/etc/edgeauth/edgeauth.env" {
    print "# The packaged settings file; EDGEAUTH_<NAME> lines in edgeauth.env override it."
    print "Environment=EDGEAUTH_CONFIG=/etc/edgeauth/edgeauth.toml"
  }
  { print }' >"$root/lib/systemd/system/edgeauth.service"
chmod 0644 "$root/lib/systemd/system/edgeauth.service"
# Each edit above matched: fail here, not on a user's machine, when deploy/ changes.
for expected in '^ExecStart=/usr/bin/edgeauth serve$' '^Environment=EDGEAUTH_CONFIG=' \
  '^EnvironmentFile=-/etc/edgeauth/edgeauth.env$'; do
  if [ "$(grep -c "$expected" "$root/lib/systemd/system/edgeauth.service")" != 1 ]; then
    echo "package.sh: the packaged unit has no single line matching $expected" >&2
    exit 1
  fi
done
if grep -q -e /usr/local -e 'TOML file is optional' "$root/lib/systemd/system/edgeauth.service"; then
  echo "package.sh: the packaged unit still says /usr/local or 'TOML file is optional'" >&2
  exit 1
fi

toml_header=$(
  cat <<'EOF'
# edgeauth configuration, installed by the edgeauth Debian package: the service reads it
# (EDGEAUTH_CONFIG in its unit), and so does `edgeauth --config /etc/edgeauth/edgeauth.toml`.
# Set database_url at least. Mode 0640 root:edgeauth (dpkg-statoverride).
EOF
)
with_header "$toml_header" '^#$' <deploy/edgeauth.toml.example >"$root/etc/edgeauth/edgeauth.toml"
chmod 0644 "$root/etc/edgeauth/edgeauth.toml"

doc=$root/usr/share/doc/edgeauth
cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: edgeauth

Files: *
Copyright: the edgeauth authors
License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
{
  echo "edgeauth ($version) unstable; urgency=medium"
  echo
  echo "  * Built by scripts/package.sh from commit $commit."
  echo
  echo " -- $maintainer  $(date -R -u -d "@$SOURCE_DATE_EPOCH")"
} | gzip -9n >"$doc/changelog.gz"
# Uncompressed, so that the README's links to docs/ work where it is read.
install -m 0644 README.md "$doc/README.md"
install -d -m 0755 "$doc/docs"
install -m 0644 docs/*.md docs/openapi.json "$doc/docs/"

# Depends: the package of each shared library the binary needs, at least the newest symbol
# version it uses from it (GLIBC_2.34: libc6 (>= 2.34)), as dpkg-shlibdeps would say
# without dpkg-dev. PostgreSQL is usually on another host: only suggested.
owner() {
  # dpkg knows a library by the path it shipped, with or without /usr (merged /usr).
  dpkg -S "$1" || dpkg -S "${1#/usr}" || dpkg -S "/usr$1"
} 2>/dev/null
declare -A needs # package -> the least version it must have ("" if any)
for soname in $(readelf -d "$root/usr/bin/edgeauth" | sed -n 's/.*(NEEDED).*\[\(.*\)\]$/\1/p'); do
  # `libc.so.6 => /lib/.../libc.so.6 (0x...)`, or for the loader `/lib64/ld-linux... (0x...)`.
  path=$(ldd "$root/usr/bin/edgeauth" | awk -v so="$soname" '
    $1 == so && $2 == "=>" { print $3 }
    $2 != "=>" { n = split($1, part, "/"); if (n > 1 && part[n] == so) print $1 }')
  if [ -z "$path" ] || ! package=$(owner "$path"); then
    echo "package.sh: no Debian package holds $soname ($path), which edgeauth needs" >&2
    exit 1
  fi
  package=${package%%:*}
  min=$(readelf -V "$root/usr/bin/edgeauth" | awk -v so="$soname" '
    { for (i = 1; i < NF; i++) {
        if ($i == "File:") mine = ($(i + 1) == so)
        if ($i == "Name:" && mine) { v = $(i + 1); sub(/^[^_]*_/, "", v); print v } } }' |
    grep -E '^[0-9.]+$' | sort -V | tail -n1 || true)
  # libc.so.6 and the loader are both libc6: keep the higher version.
  needs[$package]=$(printf '%s\n' "${needs[$package]:-}" "$min" | sort -V | tail -n1)
done
depends=""
for package in $(printf '%s\n' "${!needs[@]}" | sort); do
  min=${needs[$package]}
  depends+="$package${min:+ (>= $min)}, "
done
depends+=passwd # useradd, groupadd, userdel, groupdel in the maintainer scripts

for script in postinst prerm postrm; do
  install -m 0755 "deploy/debian/$script" "$root/DEBIAN/$script"
done
echo /etc/edgeauth/edgeauth.toml >"$root/DEBIAN/conffiles"
cat >"$root/DEBIAN/control" <<EOF
Package: edgeauth
Version: $version
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $(du -sk --exclude=DEBIAN "$root" | cut -f1)
Depends: $depends
Suggests: postgresql
Section: net
Priority: optional
Description: OAuth 2.0 client-credentials token server for machines
 edgeauth issues short-lived JWT access tokens (RFC 9068) with the OAuth 2.0
 client-credentials grant, fast enough to sit at the edge of a fleet: one
 io_uring thread per core, a client cache per thread, and every issued token
 recorded in PostgreSQL in batches. It also serves introspection (RFC 7662),
 revocation (RFC 7009), server metadata (RFC 8414) and the JWKS.
 .
 The package installs the server, a hardened systemd unit (not enabled) and a
 commented /etc/edgeauth/edgeauth.toml, and creates the edgeauth system user
 with its data directory /var/lib/edgeauth.
EOF

find "$root" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
deb=$out/$name.deb
# --root-owner-group: every file root:root without fakeroot; dpkg-deb's own line to stderr.
dpkg-deb --root-owner-group --build "$root" "$deb" >&2
rm -rf "$root"
echo "package.sh: built $deb" >&2
echo "$deb"
