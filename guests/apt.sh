# Shared by the guest scripts (sourced, not run): cached `apt-get download` of Debian packages.
# Needs: $debs (the download cache) and a log function; defines apt_update, die, fetch and stale.

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
    log "error: needs apt-get and dpkg-deb (Debian 12)"
    exit 1
}

die() { log "error: $*"; exit 1; }

apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        log "apt-get update"
        apt-get update -qq >&2 || die "apt-get update failed (run as root?)"
        apt_updated=1
    fi
}

# Downloads package $1 into $debs unless a .deb of it is already there; prints the .deb's path.
fetch() {
    local deb
    deb=$(ls "$debs/$1"_*.deb 2>/dev/null | head -n1 || true)
    if [ -z "$deb" ]; then
        apt_update
        log "apt-get download $1"
        (cd "$debs" && apt-get download -q "$1" >&2) || die "apt-get download $1 failed"
        deb=$(ls "$debs/$1"_*.deb | head -n1)
    fi
    echo "$deb"
}

# True when file $1 is missing or older than any of the files that follow it or than the running script.
stale() {
    local output=$1 input
    shift
    [ -s "$output" ] || return 0
    for input in "$@" "$0"; do
        [ "$input" -nt "$output" ] && return 0
    done
    return 1
}
