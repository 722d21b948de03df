#!/bin/sh
# install.sh: install the Web Sonic runtime on a Linux server from a registry.
#
#   curl -fsSLO https://REGISTRY/download/install.sh
#   sh install.sh --registry https://REGISTRY [--admin-user NAME] [options]
#
# The binary is verified before anything changes: the registry's root.json
# must have the pinned sha256 (PINNED_ROOT_SHA256 below, filled in when the
# release is made, or --root-sha256 HEX, from the publisher, not from the
# server you install from); the targets metadata must carry a threshold of
# valid signatures by the targets keys that root names, and must not have
# expired; the binary's sha256 and size must be the ones those signatures
# cover. Only sh, curl, openssl (3.0 or later), sha256sum, awk and the
# usual coreutils are used. Any failure stops the script before it changes
# anything. Running it again upgrades or repairs the installation.
#
# It then creates the system user websonic, /var/lib/websonic/{bin,data},
# /etc/websonic (websonic.env, root.json), the binary
# /var/lib/websonic/bin/websonic (symlinked as /usr/local/bin/websonic), the
# hardened unit websonic.service (enabled and started), the distribution's
# PostgreSQL server with a role and database websonic reached by peer
# authentication (unless --database-url names a server), and the first
# admin (--admin-user).
#
# Source: deploy/install.sh in github.com/websonic/websonic.
set -eu

# The sha256 of the registry's root.json this script trusts: 64 lowercase
# hex digits, set by the release process (deploy.StampInstallScript).
PINNED_ROOT_SHA256=""

usage() {
	cat <<'EOF'
usage: install.sh --registry URL [options]
       install.sh --uninstall [--purge] [--root DIR] [--yes]

  --registry URL       the registry to install from (https://; http:// only for localhost)
  --version V          the runtime version (default: the newest of --channel)
  --channel C          stable (default) or beta
  --root-sha256 HEX    sha256 of the registry's root.json, got from the publisher
                       (default: the one pinned in this script)
  --registry-ca FILE   PEM CA certificates that alone are trusted for the registry's HTTPS
  --database-url URL   use this PostgreSQL server (a database of its own, owned by a
                       CREATEROLE CREATEDB role); without it: the distribution's PostgreSQL server
                       on this machine, installed and set up when absent
  --addr ADDR          the site's listen address (WEBSONIC_ADDR; default :80)
  --admin-user NAME    create this first admin; password from WEBSONIC_ADMIN_PASSWORD, else asked
  --root DIR           install under DIR instead of / (tests): no systemctl, no package
                       manager, no useradd; ownership set only when run as root
  --yes                answer yes to every question
  --uninstall          stop and remove the service and the binary; keeps data and configuration
  --purge              with --uninstall: also remove /var/lib/websonic, /etc/websonic and the user
  -h, --help           this help
EOF
}

die() {
	printf 'install.sh: %s\n' "$*" >&2
	exit 1
}

say() { printf '%s\n' "$*"; }

# did records a line of the summary printed at the end.
did() {
	printf '  - %s\n' "$*" >>"$WORK/summary"
}

REGISTRY="" VERSION="" CHANNEL="stable" ROOT_SHA="" REGISTRY_CA="" DATABASE_URL="" ADDR=""
ADMIN_USER="" ROOT="" YES=0 UNINSTALL=0 PURGE=0
need_arg() { [ $# -ge 2 ] || die "$1 needs a value (see --help)"; }
while [ $# -gt 0 ]; do
	case $1 in
	--registry) need_arg "$@"; REGISTRY=$2; shift 2 ;;
	--registry=*) REGISTRY=${1#*=}; shift ;;
	--version) need_arg "$@"; VERSION=$2; shift 2 ;;
	--version=*) VERSION=${1#*=}; shift ;;
	--channel) need_arg "$@"; CHANNEL=$2; shift 2 ;;
	--channel=*) CHANNEL=${1#*=}; shift ;;
	--root-sha256) need_arg "$@"; ROOT_SHA=$2; shift 2 ;;
	--root-sha256=*) ROOT_SHA=${1#*=}; shift ;;
	--registry-ca) need_arg "$@"; REGISTRY_CA=$2; shift 2 ;;
	--registry-ca=*) REGISTRY_CA=${1#*=}; shift ;;
	--database-url) need_arg "$@"; DATABASE_URL=$2; shift 2 ;;
	--database-url=*) DATABASE_URL=${1#*=}; shift ;;
	--addr) need_arg "$@"; ADDR=$2; shift 2 ;;
	--addr=*) ADDR=${1#*=}; shift ;;
	--admin-user) need_arg "$@"; ADMIN_USER=$2; shift 2 ;;
	--admin-user=*) ADMIN_USER=${1#*=}; shift ;;
	--root) need_arg "$@"; ROOT=$2; shift 2 ;;
	--root=*) ROOT=${1#*=}; shift ;;
	--yes | -y) YES=1; shift ;;
	--uninstall) UNINSTALL=1; shift ;;
	--purge) PURGE=1; shift ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument: $1" ;;
	esac
done

# ---- checks of the arguments: nothing changes before they all pass ----

# hex64 succeeds when $1 is 64 lowercase hex digits (a sha256). awk
# intervals ({64}) are not used: mawk before 2020-07 lacks them.
hex64() {
	printf '%s\n' "$1" | awk 'length($0) == 64 && /^[0-9a-f]+$/ { ok = 1 } END { exit !ok }'
}

# envsafe: a value written into the EnvironmentFile must be one plain word.
envsafe() {
	case $2 in
	*[[:space:]\"\'\\]*) die "$1 must not contain spaces, quotes or backslashes" ;;
	esac
}

if [ -n "$ROOT" ]; then
	case $ROOT in
	/*) ;;
	*) ROOT=$(pwd)/$ROOT ;;
	esac
	ROOT=${ROOT%/}
	[ "$ROOT" != "" ] || die "--root / is the default: leave --root out"
	mkdir -p "$ROOT" 2>/dev/null || die "--root $ROOT: cannot create it"
fi
[ $PURGE -eq 0 ] || [ $UNINSTALL -eq 1 ] || die "--purge goes with --uninstall"
if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then
	die "run as root (sudo sh install.sh ...), or install into a scratch folder with --root DIR"
fi

SBIN_PATHS=/usr/local/sbin:/usr/sbin:/sbin
PATH=$PATH:$SBIN_PATHS
export PATH

ETC=$ROOT/etc/websonic
VARLIB=$ROOT/var/lib/websonic
UNIT=$ROOT/etc/systemd/system/websonic.service
LINK=$ROOT/usr/local/bin/websonic
WORK=$(mktemp -d "${TMPDIR:-/tmp}/websonic-install.XXXXXX") || die "cannot make a temporary folder"
trap 'rm -rf "$WORK"' EXIT
trap 'exit 130' INT TERM
: >"$WORK/summary"

# tty_ok: a terminal to ask on (not just a /dev/tty node).
tty_ok() { (: </dev/tty) 2>/dev/null; }

confirm() {
	[ $YES -eq 1 ] && return 0
	tty_ok || die "$1: pass --yes to confirm (no terminal to ask on)"
	printf '%s [y/N] ' "$1" >/dev/tty
	read -r answer </dev/tty || answer=""
	case $answer in
	y | Y | yes | YES) return 0 ;;
	esac
	return 1
}

have_systemd() { [ -z "$ROOT" ] && command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; }

# ---- uninstall ----

if [ $UNINSTALL -eq 1 ]; then
	if [ $PURGE -eq 1 ]; then
		confirm "remove the service, the binary AND all data under $VARLIB and $ETC, and the user websonic?" ||
			die "nothing removed"
	fi
	if have_systemd && [ -f "$UNIT" ]; then
		systemctl disable --now websonic.service >/dev/null 2>&1 || true
		did "stopped and disabled websonic.service"
	fi
	if [ -d "$UNIT.d" ]; then
		rm -f "$UNIT.d/postgresql.conf"
		rmdir "$UNIT.d" 2>/dev/null || true
	fi
	if [ -f "$UNIT" ]; then
		rm -f "$UNIT"
		did "removed $UNIT"
		! have_systemd || systemctl daemon-reload
	fi
	if [ -L "$LINK" ]; then
		rm -f "$LINK"
		did "removed $LINK"
	fi
	if [ -d "$VARLIB/bin" ]; then
		rm -rf "${VARLIB:?}/bin"
		did "removed $VARLIB/bin"
	fi
	if [ $PURGE -eq 1 ]; then
		rm -rf "${VARLIB:?}" "${ETC:?}"
		did "removed $VARLIB and $ETC (all data)"
		if [ -z "$ROOT" ]; then
			if id websonic >/dev/null 2>&1; then
				userdel websonic && did "removed the user websonic"
			fi
		else
			for f in passwd group; do
				if [ -f "$ROOT/etc/$f" ] && awk -F: '$1 == "websonic" { found = 1 } END { exit !found }' "$ROOT/etc/$f"; then
					awk -F: '$1 != "websonic"' "$ROOT/etc/$f" >"$WORK/$f" && cat "$WORK/$f" >"$ROOT/etc/$f"
					did "removed websonic from $ROOT/etc/$f"
				fi
			done
		fi
	else
		[ ! -d "$VARLIB" ] || did "kept $VARLIB/data and $ETC (remove them with --uninstall --purge)"
	fi
	say "install.sh: uninstalled Web Sonic:"
	cat "$WORK/summary"
	exit 0
fi

[ -n "$REGISTRY" ] || die "--registry URL is required (see --help)"
REGISTRY=${REGISTRY%/}
case $REGISTRY in
https://*) ;;
http://localhost | http://localhost:* | http://127.0.0.1 | http://127.0.0.1:* | "http://[::1]" | "http://[::1]:"*) ;;
*) die "--registry must be an https:// URL (http:// only for localhost): $REGISTRY" ;;
esac
envsafe --registry "$REGISTRY"
case $CHANNEL in
stable | beta) ;;
*) die "--channel must be stable or beta, not $CHANNEL" ;;
esac
if [ -n "$VERSION" ]; then
	printf '%s\n' "$VERSION" | awk '/^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$/ { ok = 1 } END { exit !ok }' ||
		die "--version $VERSION is not a version like 1.2.3"
fi
[ -n "$ROOT_SHA" ] || ROOT_SHA=$PINNED_ROOT_SHA256
[ -n "$ROOT_SHA" ] || die "no pinned root: pass --root-sha256 HEX, the root fingerprint that Web Sonic gives you (the download page $REGISTRY/download shows it in the install command: compare the two)"
ROOT_SHA=$(printf '%s' "$ROOT_SHA" | tr 'A-F' 'a-f')
hex64 "$ROOT_SHA" ||
	die "--root-sha256 must be 64 hex digits"
[ -z "$DATABASE_URL" ] || envsafe --database-url "$DATABASE_URL"
case $DATABASE_URL in
"" | postgres://* | postgresql://*) ;;
*) die "--database-url must be a postgres:// URL" ;;
esac
[ -z "$ADDR" ] || envsafe --addr "$ADDR"
# Test knobs, with --root only: WEBSONIC_INSTALL_PSQL is the command that
# runs psql as a superuser of a test server (instead of the postgres user
# on this machine's); WEBSONIC_INSTALL_DB names the role and the database
# (default websonic, the OS user that peer authentication maps to it).
if [ -z "$ROOT" ] && { [ -n "${WEBSONIC_INSTALL_PSQL:-}" ] || [ -n "${WEBSONIC_INSTALL_DB:-}" ]; }; then
	die "WEBSONIC_INSTALL_PSQL and WEBSONIC_INSTALL_DB are for tests with --root only"
fi
PG_DB=${WEBSONIC_INSTALL_DB:-websonic}
printf '%s\n' "$PG_DB" | awk '/^[a-z_][a-z0-9_]*$/ && length($0) < 64 { ok = 1 } END { exit !ok }' ||
	die "WEBSONIC_INSTALL_DB must be a lowercase SQL name"
if [ -n "$ADMIN_USER" ]; then
	printf '%s\n' "$ADMIN_USER" | awk '/^[A-Za-z0-9][A-Za-z0-9._-]*$/ { ok = 1 } END { exit !ok }' ||
		die "--admin-user must be letters, digits, dots, dashes or underscores"
fi
if [ -n "$REGISTRY_CA" ]; then
	[ -r "$REGISTRY_CA" ] || die "--registry-ca $REGISTRY_CA: cannot read it"
	openssl x509 -in "$REGISTRY_CA" -noout 2>/dev/null || die "--registry-ca $REGISTRY_CA: not a PEM certificate"
fi
for tool in curl openssl sha256sum awk; do
	command -v $tool >/dev/null 2>&1 || die "$tool is needed: install it with the distribution's package manager"
done
openssl version | awk '{ split($2, v, "."); exit !(v[1] >= 3) }' ||
	die "OpenSSL 3.0 or later is needed (openssl pkeyutl -rawin): $(openssl version)"

case $(uname -m) in
x86_64 | amd64) ARCH=amd64 ;;
aarch64 | arm64) ARCH=arm64 ;;
*) die "no Web Sonic runtime for $(uname -m): amd64 and arm64 only" ;;
esac

# ---- JSON, with awk ----

# flatten prints one line per JSON scalar of its input: the path, a tab,
# the value as it is in the JSON text (strings keep their quotes and
# escapes). A path is the keys and array indexes joined by commas, keys as
# their JSON strings: "signed","roles","targets","threshold". Inside a
# JSON string a quote is always escaped, so a key cannot forge a path.
# It fails on anything that is not one well-formed JSON value.
flatten() {
	awk '
	function fail(msg) { printf "bad JSON at byte %d: %s\n", i, msg > "/dev/stderr"; bad = 1; exit 1 }
	function ws() { while (i <= n && (c[i] == " " || c[i] == "\n" || c[i] == "\t" || c[i] == "\r")) i++ }
	function str(   s, ch) {
		s = "\""; i++
		while (i <= n) {
			ch = c[i]
			if (ch == "\\") { s = s ch c[i + 1]; i += 2; continue }
			if (ch == "\n" || ch == "\t") fail("control character in a string")
			s = s ch; i++
			if (ch == "\"") return s
		}
		fail("unterminated string")
	}
	function value(path,   k, idx, v) {
		ws()
		if (i > n) fail("value expected")
		if (c[i] == "{") {
			i++; ws()
			if (c[i] == "}") { i++; print path "\t{}"; return }
			for (;;) {
				ws()
				if (c[i] != "\"") fail("key expected")
				k = str(); ws()
				if (c[i] != ":") fail("colon expected")
				i++
				value(path == "" ? k : path "," k)
				ws()
				if (c[i] == ",") { i++; continue }
				if (c[i] == "}") { i++; return }
				fail("comma or } expected")
			}
		}
		if (c[i] == "[") {
			i++; ws()
			if (c[i] == "]") { i++; print path "\t[]"; return }
			for (idx = 0; ; idx++) {
				value(path == "" ? idx : path "," idx)
				ws()
				if (c[i] == ",") { i++; continue }
				if (c[i] == "]") { i++; return }
				fail("comma or ] expected")
			}
		}
		if (c[i] == "\"") { print path "\t" str(); return }
		v = ""
		while (i <= n && c[i] ~ /[-+0-9.eEa-z]/) { v = v c[i]; i++ }
		if (v !~ /^(true|false|null|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][-+]?[0-9]+)?)$/) fail("bad scalar " v)
		print path "\t" v
	}
	{ buf = buf $0 "\n" }
	END {
		if (bad) exit 1
		n = split(buf, c, "")
		i = 1
		value("")
		ws()
		if (i <= n) fail("trailing data")
	}'
}

# jget FLAT PATH prints the raw value at PATH (fails if absent).
jget() {
	P=$2 awk -F '\t' 'BEGIN { p = ENVIRON["P"] } $1 == p { print substr($0, length($1) + 2); found = 1; exit } END { exit !found }' "$1"
}

# jstr FLAT PATH prints the string at PATH, unescaped (\n, \", \\, \/);
# it fails if the value is not a string or holds other escapes.
jstr() {
	v=$(jget "$1" "$2") || return 1
	printf '%s\n' "$v" | awk '
	{
		if ($0 !~ /^".*"$/) exit 1
		s = substr($0, 2, length($0) - 2); out = ""
		while ((k = index(s, "\\")) > 0) {
			e = substr(s, k + 1, 1)
			if (e == "n") r = "\n"; else if (e == "\"" || e == "\\" || e == "/") r = e; else exit 1
			out = out substr(s, 1, k - 1) r; s = substr(s, k + 2)
		}
		printf "%s", out s
	}'
}

# hex2bin writes the bytes of a hex string (stdin) to stdout.
hex2bin() {
	awk '
	BEGIN { for (d = 0; d < 16; d++) h[substr("0123456789abcdef", d + 1, 1)] = d }
	{
		s = tolower($0)
		if (s !~ /^([0-9a-f][0-9a-f])+$/) exit 1
		for (k = 1; k < length(s); k += 2) printf "\\%03o", h[substr(s, k, 1)] * 16 + h[substr(s, k + 1, 1)]
		printf "\n"
	}' | {
		read -r esc || exit 1
		# shellcheck disable=SC2059 # the octal escapes are the format
		printf "$esc"
	}
}

# vgt A B succeeds when version A is above version B (semantic versioning:
# a pre-release is below its release; identifiers compared in order).
vgt() {
	awk -v a="$1" -v b="$2" '
	function cmpid(x, y) {
		if (x ~ /^[0-9]+$/ && y ~ /^[0-9]+$/) return (x + 0 > y + 0) - (x + 0 < y + 0)
		if (x ~ /^[0-9]+$/) return -1
		if (y ~ /^[0-9]+$/) return 1
		return (x > y) - (x < y)
	}
	function cmp(x, y,   xm, ym, xp, yp, xs, ys, nx, ny, k, r) {
		sub(/\+.*/, "", x); sub(/\+.*/, "", y)
		xp = ""; yp = ""
		if (index(x, "-")) { xp = substr(x, index(x, "-") + 1); x = substr(x, 1, index(x, "-") - 1) }
		if (index(y, "-")) { yp = substr(y, index(y, "-") + 1); y = substr(y, 1, index(y, "-") - 1) }
		split(x, xm, "."); split(y, ym, ".")
		for (k = 1; k <= 3; k++) if (xm[k] + 0 != ym[k] + 0) return xm[k] + 0 > ym[k] + 0 ? 1 : -1
		if (xp == yp) return 0
		if (xp == "") return 1
		if (yp == "") return -1
		nx = split(xp, xs, "."); ny = split(yp, ys, ".")
		for (k = 1; k <= nx && k <= ny; k++) if ((r = cmpid(xs[k], ys[k])) != 0) return r
		return (nx > ny) - (nx < ny)
	}
	BEGIN { exit !(cmp(a, b) > 0) }'
}

# ---- fetch and verify (nothing changes on the machine until this passes) ----

fetch() {
	if [ -n "$REGISTRY_CA" ]; then
		curl -fsS --proto '=https,http' --retry 2 --cacert "$REGISTRY_CA" "$@"
	else
		curl -fsS --proto '=https,http' --retry 2 "$@"
	fi
}

say "install.sh: verifying the runtime from $REGISTRY"
fetch -o "$WORK/root.json" "$REGISTRY/v1/tuf/root.json" || die "cannot fetch $REGISTRY/v1/tuf/root.json"
got=$(sha256sum "$WORK/root.json" | awk '{ print $1 }')
[ "$got" = "$ROOT_SHA" ] ||
	die "the registry's root.json has sha256 $got, not the pinned $ROOT_SHA: refusing (wrong registry, a rotated root needing a newer install.sh, or tampering)"
flatten <"$WORK/root.json" >"$WORK/root.flat" || die "root.json is not valid JSON"
[ "$(jstr "$WORK/root.flat" '"signed","_type"')" = root ] || die "root.json is not a root"

NOW=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# not_expired NAME EXPIRES: TUF expiry times are UTC, "2030-01-02T03:04:05Z",
# which compare as strings.
not_expired() {
	printf '%s\n' "$2" | awk '/^[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9]Z$/ { ok = 1 } END { exit !ok }' ||
		die "$1: bad expiry time $2"
	awk -v e="$2" -v now="$NOW" 'BEGIN { exit !(e > now) }' || die "$1 expired at $2: refusing (the registry must renew it)"
}
not_expired root.json "$(jstr "$WORK/root.flat" '"signed","expires"')"

THRESHOLD=$(jget "$WORK/root.flat" '"signed","roles","targets","threshold"') || die "root.json has no targets role"
case $THRESHOLD in
[1-9] | [1-9][0-9]) ;;
*) die "root.json: bad targets threshold $THRESHOLD" ;;
esac

fetch -o "$WORK/targets.json" "$REGISTRY/v1/tuf/targets.json" || die "cannot fetch $REGISTRY/v1/tuf/targets.json"
fetch -o "$WORK/targets.canonical" "$REGISTRY/download/targets.canonical" || die "cannot fetch $REGISTRY/download/targets.canonical"
flatten <"$WORK/targets.json" >"$WORK/targets.flat" || die "targets.json is not valid JSON"
flatten <"$WORK/targets.canonical" >"$WORK/canonical.flat" || die "targets.canonical is not valid JSON"

# Threshold signatures over the canonical bytes: each targets key of the
# pinned root counts once.
valid=0
for keyid in $(awk -F '\t' '$1 ~ /^"signed","roles","targets","keyids",[0-9]+$/ { print $2 }' "$WORK/root.flat" | tr -d '"' | sort -u); do
	hex64 "$keyid" || die "root.json: bad key id $keyid"
	k='"signed","keys","'$keyid'"'
	keytype=$(jstr "$WORK/root.flat" "$k,\"keytype\"") || die "root.json: no key $keyid"
	scheme=$(jstr "$WORK/root.flat" "$k,\"scheme\"") || die "root.json: key $keyid has no scheme"
	public=$(jstr "$WORK/root.flat" "$k,\"keyval\",\"public\"") || die "root.json: key $keyid has no public key"
	sig=$(awk -F '\t' -v want="\"$keyid\"" '
		$1 ~ /^"signatures",[0-9]+,"keyid"$/ && $2 == want { split($1, p, ","); idx = p[2] }
		$1 ~ /^"signatures",[0-9]+,"sig"$/ { split($1, p, ","); sigs[p[2]] = $2 }
		END { if (idx != "") print sigs[idx] }' "$WORK/targets.flat" | tr -d '"')
	[ -n "$sig" ] || continue
	printf '%s\n' "$sig" | hex2bin >"$WORK/sig.bin" || die "targets.json: signature of $keyid is not hex"
	case $keytype/$scheme in
	ed25519/ed25519)
		hex64 "$public" || die "root.json: bad ed25519 key $keyid"
		# SubjectPublicKeyInfo of an Ed25519 key: a 12-byte prefix, then the key.
		{
			echo "-----BEGIN PUBLIC KEY-----"
			printf '302a300506032b6570032100%s\n' "$public" | hex2bin | openssl base64
			echo "-----END PUBLIC KEY-----"
		} >"$WORK/key.pem"
		if openssl pkeyutl -verify -pubin -inkey "$WORK/key.pem" -rawin -in "$WORK/targets.canonical" \
			-sigfile "$WORK/sig.bin" >/dev/null 2>&1; then
			valid=$((valid + 1))
		fi
		;;
	ecdsa/ecdsa-sha2-nistp256 | ecdsa-sha2-nistp256/ecdsa-sha2-nistp256)
		printf '%s\n' "$public" >"$WORK/key.pem"
		openssl pkey -pubin -in "$WORK/key.pem" -noout 2>/dev/null || die "root.json: bad ECDSA key $keyid"
		if openssl dgst -sha256 -verify "$WORK/key.pem" -signature "$WORK/sig.bin" "$WORK/targets.canonical" >/dev/null 2>&1; then
			valid=$((valid + 1))
		fi
		;;
	*) say "install.sh: skipping key $keyid of unsupported type $keytype/$scheme" >&2 ;;
	esac
done
[ "$valid" -ge "$THRESHOLD" ] ||
	die "targets metadata has $valid valid signature(s) by the pinned root's targets keys, $THRESHOLD needed: refusing"
[ "$(jstr "$WORK/canonical.flat" '"_type"')" = targets ] || die "targets.canonical is not a targets object"
not_expired targets "$(jstr "$WORK/canonical.flat" '"expires"')"
TARGETS_VERSION=$(jget "$WORK/canonical.flat" '"version"')
case $TARGETS_VERSION in
'' | *[!0-9]*) die "targets: bad version $TARGETS_VERSION" ;;
esac
# No replay of older metadata than a previous run of this script saw.
if [ -f "$VARLIB/install-state" ]; then
	seen=$(awk -F= '$1 == "targets_version" { print $2 }' "$VARLIB/install-state")
	if [ -n "$seen" ] && [ "$TARGETS_VERSION" -lt "$seen" ]; then
		die "targets version $TARGETS_VERSION is older than version $seen seen before: refusing (rollback)"
	fi
fi

# The runtime targets for this platform: version, channel, revoked.
awk -F '\t' -v arch="$ARCH" '
	$1 ~ /^"targets","runtime\/websonic\/[^"\/]+\/linux-/ {
		split($1, p, ","); name = p[2]
		if (name !~ ("^\"runtime/websonic/[^\"/]+/linux-" arch "\"$")) next
		v = substr(name, 19); v = substr(v, 1, index(v, "/") - 1)
		seen[v] = 1
		if ($1 == "\"targets\"," name ",\"custom\",\"channel\"") ch[v] = $2
		if ($1 == "\"targets\"," name ",\"custom\",\"revoked\"" && $2 == "true") rev[v] = 1
	}
	END { for (v in seen) print v, ch[v], (v in rev) ? "revoked" : "ok" }' "$WORK/canonical.flat" >"$WORK/releases"

if [ -z "$VERSION" ]; then
	while read -r v ch state; do
		[ "$state" = ok ] || continue
		case $CHANNEL/$ch in
		stable/'"stable"' | beta/'"stable"' | beta/'"beta"') ;;
		*) continue ;;
		esac
		if [ -z "$VERSION" ] || vgt "$v" "$VERSION"; then VERSION=$v; fi
	done <"$WORK/releases"
	[ -n "$VERSION" ] || die "the registry has no $CHANNEL runtime release for linux/$ARCH"
fi
state=$(awk -v v="$VERSION" '$1 == v { print $3 }' "$WORK/releases")
[ -n "$state" ] || die "the registry has no runtime $VERSION for linux/$ARCH"
[ "$state" = ok ] || die "runtime $VERSION is revoked: refusing"
T='"targets","runtime/websonic/'$VERSION'/linux-'$ARCH'","custom"'
[ "$(jstr "$WORK/canonical.flat" "$T,\"runtime\"")" = websonic ] || die "target of $VERSION is not a runtime release"
[ "$(jstr "$WORK/canonical.flat" "$T,\"version\"")" = "$VERSION" ] || die "target of $VERSION names another version"
[ "$(jstr "$WORK/canonical.flat" "$T,\"os\"")/$(jstr "$WORK/canonical.flat" "$T,\"arch\"")" = "linux/$ARCH" ] ||
	die "target of $VERSION names another platform"
WANT_SHA=$(jstr "$WORK/canonical.flat" "$T,\"binary_sha256\"") || die "runtime $VERSION has no binary_sha256"
WANT_SIZE=$(jget "$WORK/canonical.flat" "$T,\"binary_size\"") || die "runtime $VERSION has no binary_size"
hex64 "$WANT_SHA" || die "runtime $VERSION: bad binary_sha256"
case $WANT_SIZE in
'' | *[!0-9]*) die "runtime $VERSION: bad binary_size" ;;
esac

say "install.sh: downloading websonic $VERSION for linux/$ARCH ($WANT_SIZE bytes)"
fetch --max-filesize "$WANT_SIZE" -o "$WORK/websonic" "$REGISTRY/download/websonic/$VERSION/linux-$ARCH" ||
	die "cannot download $REGISTRY/download/websonic/$VERSION/linux-$ARCH"
size=$(wc -c <"$WORK/websonic" | tr -d ' ')
[ "$size" = "$WANT_SIZE" ] || die "the binary has $size bytes, the signed release says $WANT_SIZE: refusing"
got=$(sha256sum "$WORK/websonic" | awk '{ print $1 }')
[ "$got" = "$WANT_SHA" ] || die "the binary's sha256 is $got, the signed release says $WANT_SHA: refusing"
chmod 0755 "$WORK/websonic"
say "install.sh: verified websonic $VERSION: sha256 $got, targets signed by $valid of the pinned root's keys (threshold $THRESHOLD)"

# ---- install ----

# The user. Under --root, entries in DIR/etc/passwd and DIR/etc/group.
if [ -z "$ROOT" ]; then
	if id websonic >/dev/null 2>&1; then
		did "user websonic exists"
	else
		useradd --system --user-group --home-dir /var/lib/websonic --no-create-home \
			--shell /usr/sbin/nologin --comment "Web Sonic runtime" websonic
		did "created the system user websonic"
	fi
	OWNER=websonic:websonic
	ROOTGROUP=root:websonic
else
	mkdir -p "$ROOT/etc"
	touch "$ROOT/etc/passwd" "$ROOT/etc/group"
	gid=$(awk -F: '$1 == "websonic" { print $3 }' "$ROOT/etc/group")
	if [ -z "$gid" ]; then
		gid=$(awk -F: '{ used[$3] = 1 } END { for (g = 999; g > 100 && (g in used); g--) ; print g }' "$ROOT/etc/group")
		printf 'websonic:x:%s:\n' "$gid" >>"$ROOT/etc/group"
		did "added the group websonic ($gid) to $ROOT/etc/group"
	fi
	uid=$(awk -F: '$1 == "websonic" { print $3 }' "$ROOT/etc/passwd")
	if [ -z "$uid" ]; then
		uid=$(awk -F: '{ used[$3] = 1 } END { for (u = 999; u > 100 && (u in used); u--) ; print u }' "$ROOT/etc/passwd")
		printf 'websonic:x:%s:%s:Web Sonic runtime:/var/lib/websonic:/usr/sbin/nologin\n' "$uid" "$gid" >>"$ROOT/etc/passwd"
		did "added the user websonic ($uid) to $ROOT/etc/passwd"
	fi
	OWNER="" ROOTGROUP=""
	if [ "$(id -u)" = 0 ]; then
		OWNER=$uid:$gid
		ROOTGROUP=0:$gid
	fi
fi

# own OWNER MODE PATH...
own() {
	o=$1 m=$2
	shift 2
	[ -z "$o" ] || chown "$o" "$@"
	chmod "$m" "$@"
}

mkdir -p "$VARLIB/bin" "$VARLIB/data" "$ETC"
own "$OWNER" 0750 "$VARLIB"
own "$OWNER" 0755 "$VARLIB/bin"
own "$OWNER" 0700 "$VARLIB/data"
own "$ROOTGROUP" 0750 "$ETC"
did "folders $VARLIB/bin, $VARLIB/data (websonic) and $ETC (root:websonic)"

# The binary, replaced atomically (a rename in the same folder).
if [ -f "$VARLIB/bin/websonic" ] && [ "$(sha256sum "$VARLIB/bin/websonic" | awk '{ print $1 }')" = "$WANT_SHA" ]; then
	did "websonic $VERSION already installed at $VARLIB/bin/websonic"
	CHANGED_BINARY=0
else
	cp "$WORK/websonic" "$VARLIB/bin/.websonic.new"
	own "$OWNER" 0755 "$VARLIB/bin/.websonic.new"
	mv -f "$VARLIB/bin/.websonic.new" "$VARLIB/bin/websonic"
	did "installed websonic $VERSION at $VARLIB/bin/websonic (sha256 $WANT_SHA)"
	CHANGED_BINARY=1
fi
mkdir -p "$ROOT/usr/local/bin"
if [ "$(readlink "$LINK" 2>/dev/null || true)" != /var/lib/websonic/bin/websonic ]; then
	ln -sfn /var/lib/websonic/bin/websonic "$LINK"
	did "linked $LINK -> /var/lib/websonic/bin/websonic"
fi

# The pinned root, which the runtime trusts on its first start (it follows
# rotations from there).
cp "$WORK/root.json" "$ETC/.root.json.new"
own "$ROOTGROUP" 0644 "$ETC/.root.json.new"
mv -f "$ETC/.root.json.new" "$ETC/root.json"
did "pinned root $ROOT_SHA at $ETC/root.json"
if [ -n "$REGISTRY_CA" ]; then
	cp "$REGISTRY_CA" "$ETC/registry-ca.pem"
	own "$ROOTGROUP" 0644 "$ETC/registry-ca.pem"
fi

# ---- PostgreSQL ----
#
# Without --database-url the runtime uses the distribution's PostgreSQL
# server on this machine: a role websonic (LOGIN CREATEROLE CREATEDB, never
# SUPERUSER) owning a database websonic, reached over the unix socket
# with peer authentication (the OS user websonic is the role websonic).
# Not the runtime's private (embedded) cluster: that stops with the
# process that started it, so graceful restarts and self-updates could
# not hand over to a new process (cmd/websonic/graceful.go).
LOCAL_URL="postgres:///$PG_DB?host=/var/run/postgresql"
ENVF=$ETC/websonic.env
OLD_URL=""
[ ! -f "$ENVF" ] || OLD_URL=$(awk 'index($0, "WEBSONIC_DATABASE_URL=") == 1 { u = substr($0, 23) } END { print u }' "$ENVF")
if [ -n "$DATABASE_URL" ] && [ "$DATABASE_URL" != "$LOCAL_URL" ]; then
	PG_MODE=external
elif [ -z "$DATABASE_URL" ] && [ -n "$OLD_URL" ] && [ "$OLD_URL" != "$LOCAL_URL" ]; then
	PG_MODE=external
elif [ -z "$OLD_URL" ] && [ -f "$VARLIB/data/postgres/PG_VERSION" ]; then
	# An installation from before this path: its data is in the private
	# cluster, which is kept rather than left behind.
	PG_MODE=embedded
elif [ -n "$ROOT" ] && [ -z "${WEBSONIC_INSTALL_PSQL:-}" ]; then
	PG_MODE=none
else
	PG_MODE=local
fi

# as_user USER CMD... runs CMD as USER (from /, which every user may read).
as_user() {
	u=$1
	shift
	if command -v runuser >/dev/null 2>&1; then
		(cd / && runuser -u "$u" -- "$@")
	else
		(cd / && setpriv --reuid="$u" --regid="$u" --init-groups -- "$@")
	fi
}

# pg_server installs, sets up and starts the distribution's PostgreSQL
# server unless one answers on /var/run/postgresql already.
pg_server() {
	if [ -S /var/run/postgresql/.s.PGSQL.5432 ]; then
		did "PostgreSQL: the server on /var/run/postgresql"
		return 0
	fi
	if command -v apt-get >/dev/null 2>&1; then
		# An earlier install.sh turned the package's main cluster off.
		rm -f /etc/postgresql-common/createcluster.d/websonic.conf
		if ! dpkg -s postgresql >/dev/null 2>&1; then
			apt-get update -q >/dev/null || die "apt-get update failed"
			DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql >/dev/null || die "apt-get install postgresql failed"
			did "PostgreSQL: installed the distribution's postgresql package"
		fi
		if [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
			v=$(for d in /usr/lib/postgresql/*/; do basename "$d"; done | sort -n | tail -n 1)
			pg_createcluster "$v" main >/dev/null || die "pg_createcluster $v main failed"
			did "PostgreSQL: created the cluster $v/main"
		fi
	elif command -v dnf >/dev/null 2>&1; then
		if ! rpm -q postgresql-server >/dev/null 2>&1; then
			dnf install -y -q postgresql-server >/dev/null || die "dnf install postgresql-server failed"
			did "PostgreSQL: installed the distribution's postgresql-server package"
		fi
		if [ ! -f /var/lib/pgsql/data/PG_VERSION ]; then
			postgresql-setup --initdb >/dev/null || die "postgresql-setup --initdb failed"
			did "PostgreSQL: initialised /var/lib/pgsql/data"
		fi
	else
		die "no PostgreSQL server and no apt-get or dnf: install PostgreSQL, or pass --database-url"
	fi
	have_systemd || die "PostgreSQL is installed but systemd is not running here: start it, then run install.sh again"
	systemctl enable --now postgresql.service >/dev/null 2>&1 || die "systemctl enable --now postgresql failed: journalctl -u postgresql"
	did "PostgreSQL: enabled and started postgresql.service"
	tries=0
	until as_user postgres psql -X -q -d postgres -c 'SELECT 1' >/dev/null 2>&1; do
		tries=$((tries + 1))
		[ $tries -lt 60 ] || die "PostgreSQL does not answer on /var/run/postgresql: journalctl -u postgresql"
		sleep 1
	done
}

# pg_sql prints what the server's superuser runs with psql (PG_DB was
# checked above): the role and the database, made when absent and kept
# otherwise, and the three bounds the runtime asks the DBA for
# (runtime/internal/dbroles, "External servers").
pg_sql() {
	cat <<EOF
SET search_path = pg_catalog, pg_temp;
SELECT 'CREATE ROLE "$PG_DB"' WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$PG_DB') \gexec
ALTER ROLE "$PG_DB" LOGIN NOSUPERUSER CREATEROLE CREATEDB NOREPLICATION NOBYPASSRLS INHERIT;
SELECT 'CREATE DATABASE "$PG_DB" OWNER "$PG_DB"' WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$PG_DB') \gexec
DO \$\$ DECLARE o text := (SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = '$PG_DB');
BEGIN IF o <> '$PG_DB' THEN
	RAISE EXCEPTION 'the database $PG_DB exists and belongs to %, not to the role $PG_DB: ALTER DATABASE $PG_DB OWNER TO $PG_DB, or pass --database-url', o;
END IF; END \$\$;
SELECT 'GRANT SET ON PARAMETER temp_file_limit TO "$PG_DB"' WHERE current_setting('server_version_num')::int >= 150000 \gexec
\connect $PG_DB
SET search_path = pg_catalog, pg_temp;
REVOKE EXECUTE ON FUNCTION pg_catalog.lo_create(oid), pg_catalog.lo_creat(integer), pg_catalog.lo_from_bytea(oid, bytea),
	pg_catalog.lo_import(text), pg_catalog.lo_import(text, oid), pg_catalog.lo_put(oid, bigint, bytea) FROM PUBLIC;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
EOF
}

case $PG_MODE in
external) did "PostgreSQL: the server in WEBSONIC_DATABASE_URL" ;;
embedded) did "PostgreSQL: kept the runtime's private cluster in $VARLIB/data/postgres (no graceful restarts or self-updates on it: move the data to a server and set WEBSONIC_DATABASE_URL)" ;;
none) did "PostgreSQL: not set up under --root" ;;
local)
	if [ -z "$ROOT" ]; then
		pg_server
		set -- as_user postgres psql
	else
		# shellcheck disable=SC2086 # a command line, split on purpose
		set -- $WEBSONIC_INSTALL_PSQL
	fi
	pg_sql | "$@" -X -q -v ON_ERROR_STOP=1 >"$WORK/psql.out" 2>&1 ||
		die "setting up the PostgreSQL role and database $PG_DB failed: $(cat "$WORK/psql.out")"
	if [ -z "$ROOT" ]; then
		as_user websonic psql -X -q -d "$LOCAL_URL" -c 'SELECT 1' >"$WORK/psql.out" 2>&1 ||
			die "the user websonic cannot reach the database $PG_DB with peer authentication ($(cat "$WORK/psql.out")): pg_hba.conf needs the line 'local $PG_DB websonic peer' above the others, then systemctl reload postgresql"
	fi
	DATABASE_URL=$LOCAL_URL
	did "PostgreSQL: role and database $PG_DB (LOGIN CREATEROLE CREATEDB, not SUPERUSER), reached over /var/run/postgresql as the user websonic"
	;;
esac

# The environment file: created once, then only the settings this script
# owns (and those given on this run) are set; every other line is kept.
if [ ! -f "$ENVF" ]; then
	(umask 077 && : >"$ENVF")
	cat >"$ENVF" <<'EOF'
# Web Sonic runtime settings, read by websonic.service (see `websonic serve -h`).
# install.sh sets the WEBSONIC_REGISTRY, WEBSONIC_TRUSTED_ROOT and WEBSONIC_DATA_DIR lines
# (and WEBSONIC_ADDR, WEBSONIC_DATABASE_URL, WEBSONIC_REGISTRY_CA when given) and keeps the rest.
EOF
	did "created $ENVF"
	[ -n "$ADDR" ] || ADDR=:80
fi
# setenv KEY VALUE sets KEY's line in the new file, or appends it.
cp "$ENVF" "$ETC/.websonic.env.new"
setenv() {
	K=$1 V=$2 awk 'BEGIN { k = ENVIRON["K"]; v = ENVIRON["V"] }
		index($0, k "=") == 1 { if (!done) print k "=" v; done = 1; next }
		{ print }
		END { if (!done) print k "=" v }' "$ETC/.websonic.env.new" >"$WORK/env" && cat "$WORK/env" >"$ETC/.websonic.env.new"
}
setenv WEBSONIC_REGISTRY "$REGISTRY"
setenv WEBSONIC_TRUSTED_ROOT /etc/websonic/root.json
setenv WEBSONIC_DATA_DIR /var/lib/websonic/data
[ -z "$ADDR" ] || setenv WEBSONIC_ADDR "$ADDR"
[ -z "$DATABASE_URL" ] || setenv WEBSONIC_DATABASE_URL "$DATABASE_URL"
[ -z "$REGISTRY_CA" ] || setenv WEBSONIC_REGISTRY_CA /etc/websonic/registry-ca.pem
own "$ROOTGROUP" 0640 "$ETC/.websonic.env.new"
mv -f "$ETC/.websonic.env.new" "$ENVF"
did "set WEBSONIC_REGISTRY=$REGISTRY in $ENVF (mode 0640, root:websonic)"

# The unit (its text is deploy/systemd/websonic.service; a test keeps them equal).
mkdir -p "$ROOT/etc/systemd/system"
cat >"$WORK/websonic.service" <<'UNIT'
# Web Sonic runtime, installed by install.sh (deploy/install.sh).
# Local changes belong in a drop-in: systemctl edit websonic
[Unit]
Description=Web Sonic runtime
Documentation=https://github.com/websonic/websonic
After=network-online.target postgresql.service
Wants=network-online.target

[Service]
# The runtime sends READY=1 once it serves. After a self-update (tableflip)
# the new process, a child of the old one, sends MAINPID=<its pid> and
# READY=1: hence NotifyAccess=all.
Type=notify
NotifyAccess=all
User=websonic
Group=websonic
# Defaults; /etc/websonic/websonic.env (root:websonic 0640) overrides them.
Environment=WEBSONIC_DATA_DIR=/var/lib/websonic/data
EnvironmentFile=/etc/websonic/websonic.env
WorkingDirectory=/var/lib/websonic
# The binary lives under the state directory so the self-updater can
# replace it (ProtectSystem=strict keeps /usr read-only);
# /usr/local/bin/websonic is a symlink to it for the CLI.
ExecStart=/var/lib/websonic/bin/websonic serve
# Graceful restart with the same binary: listening sockets handed over.
ExecReload=/bin/kill -HUP $MAINPID
# SIGTERM to the runtime alone (after a self-update, the new MAINPID),
# which drains and stops its children cleanly (an embedded PostgreSQL, on an
# installation that kept one); whatever is left after the timeout is killed.
KillMode=mixed
TimeoutStartSec=5min
TimeoutStopSec=90s
Restart=on-failure
RestartSec=2s
LimitNOFILE=65536
UMask=0027

# Privileges: an unprivileged user that may bind ports below 1024, nothing
# else, and can never gain more.
NoNewPrivileges=yes
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
SecureBits=noroot-locked
RestrictSUIDSGID=yes

# File system: everything read-only but the state directory.
ProtectSystem=strict
ProtectHome=yes
ReadWritePaths=/var/lib/websonic
# A private /tmp. The database's socket is in /var/run/postgresql (the
# distribution's server, install.sh's drop-in); connecting to a socket
# needs no write access, so ProtectSystem=strict does not get in the way.
PrivateTmp=yes
# A private /dev keeps /dev/shm, which PostgreSQL's dynamic shared memory
# (posix) uses.
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
PrivateMounts=yes
# Shared memory and semaphores of the user websonic (an embedded
# PostgreSQL's, if any) are needed only while the unit runs.
RemoveIPC=yes
PrivateIPC=no

# Kernel interfaces.
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallErrorNumber=EPERM
# wazero compiles modules to machine code: it maps memory writable, then
# executable. MemoryDenyWriteExecute=yes would make every module fail.
MemoryDenyWriteExecute=no

[Install]
WantedBy=multi-user.target
UNIT
if [ -f "$UNIT" ] && [ "$(sha256sum <"$UNIT")" = "$(sha256sum <"$WORK/websonic.service")" ]; then
	CHANGED_UNIT=0
else
	cp "$WORK/websonic.service" "$UNIT"
	chmod 0644 "$UNIT"
	did "installed $UNIT"
	CHANGED_UNIT=1
fi
# With PostgreSQL on this machine, a drop-in starts it first and with the
# runtime; with another server, none (the unit's After= alone orders
# nothing that is not started).
DROPIN=$UNIT.d/postgresql.conf
if [ "$PG_MODE" = local ]; then
	printf '# Written by install.sh: the database is on this machine.\n[Unit]\nWants=postgresql.service\nAfter=postgresql.service\n' >"$WORK/dropin"
	if [ ! -f "$DROPIN" ] || [ "$(sha256sum <"$DROPIN")" != "$(sha256sum <"$WORK/dropin")" ]; then
		mkdir -p "$UNIT.d"
		cp "$WORK/dropin" "$DROPIN"
		chmod 0644 "$DROPIN"
		did "installed $DROPIN (Wants=postgresql.service)"
		CHANGED_UNIT=1
	fi
elif [ -f "$DROPIN" ] && [ "$PG_MODE" = external ]; then
	rm -f "$DROPIN"
	rmdir "$UNIT.d" 2>/dev/null || true
	did "removed $DROPIN"
	CHANGED_UNIT=1
fi

if have_systemd; then
	[ $CHANGED_UNIT -eq 0 ] || systemctl daemon-reload
	systemctl enable websonic.service >/dev/null 2>&1 || die "systemctl enable websonic failed"
	if systemctl is-active --quiet websonic.service; then
		if [ $CHANGED_BINARY -eq 1 ] || [ $CHANGED_UNIT -eq 1 ]; then
			systemctl restart websonic.service || die "websonic.service did not restart: journalctl -u websonic"
			did "restarted websonic.service"
		fi
	else
		systemctl start websonic.service || die "websonic.service did not start: journalctl -u websonic"
		did "enabled and started websonic.service"
	fi
elif [ -z "$ROOT" ]; then
	did "systemd is not running here: start the runtime with $VARLIB/bin/websonic serve"
fi

# What this run saw, against replays on the next one.
printf 'version=%s\ntargets_version=%s\n' "$VERSION" "$TARGETS_VERSION" >"$VARLIB/install-state"
own "$OWNER" 0644 "$VARLIB/install-state"

# The first admin, on the site the service runs (or, under --root, with
# the installed binary), with the settings in the environment file.
if [ -n "$ADMIN_USER" ]; then
	# The settings the service runs with, the paths moved under --root.
	set -- env
	while IFS= read -r line; do
		case $line in
		WEBSONIC_*=/etc/websonic* | WEBSONIC_*=/var/lib/websonic*) set -- "$@" "${line%%=*}=$ROOT${line#*=}" ;;
		WEBSONIC_*=*) set -- "$@" "$line" ;;
		esac
	done <"$ENVF"
	if [ -z "$ROOT" ]; then
		set -- as_user websonic "$@"
	fi
	if have_systemd; then
		# The service made the site (and its database schema) once it is
		# ready: wait for /readyz on its address.
		# WEBSONIC_ADDR is HOST:PORT; no host, 0.0.0.0 or [::] is every address.
		hp=$(awk 'index($0, "WEBSONIC_ADDR=") == 1 { a = substr($0, 15) }
			END { i = match(a, /:[0-9]+$/); h = i ? substr(a, 1, i - 1) : ""; p = i ? substr(a, i + 1) : 80
				if (h == "" || h == "0.0.0.0" || h == "[::]") h = "127.0.0.1"
				print h ":" p }' "$ENVF")
		tries=0
		until curl -fsk -o /dev/null --max-time 5 "http://$hp/readyz" ||
			curl -fsk -o /dev/null --max-time 5 "https://$hp/readyz"; do
			tries=$((tries + 1))
			[ $tries -lt 150 ] || die "websonic.service is not ready after 5 minutes ($hp/readyz): journalctl -u websonic; then run install.sh again"
			sleep 2
		done
	fi
	if "$@" "$VARLIB/bin/websonic" admin user "$ADMIN_USER" >/dev/null 2>&1 </dev/null; then
		did "the admin $ADMIN_USER exists: left as it is"
	else
		if [ -z "${WEBSONIC_ADMIN_PASSWORD:-}" ]; then
			tty_ok || die "set WEBSONIC_ADMIN_PASSWORD for --admin-user (no terminal to ask on)"
			stty -echo </dev/tty 2>/dev/null || true
			printf 'password for the admin %s (15 characters or more): ' "$ADMIN_USER" >/dev/tty
			read -r WEBSONIC_ADMIN_PASSWORD </dev/tty || true
			stty echo </dev/tty 2>/dev/null || true
			printf '\n' >/dev/tty
			[ -n "$WEBSONIC_ADMIN_PASSWORD" ] || die "no password given for the admin $ADMIN_USER"
		fi
		export WEBSONIC_ADMIN_PASSWORD
		"$@" "$VARLIB/bin/websonic" admin create --username "$ADMIN_USER" </dev/null >"$WORK/admin.out" 2>&1 ||
			die "websonic admin create --username $ADMIN_USER failed: $(cat "$WORK/admin.out"); the installation itself is done: run install.sh again with --admin-user (under --root, run websonic serve once first: it makes the site)"
		did "created the admin $ADMIN_USER"
	fi
fi

say "install.sh: installed Web Sonic $VERSION:"
cat "$WORK/summary"
say "The site's settings are in $ENVF; after a change: systemctl restart websonic."
