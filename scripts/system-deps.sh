#!/usr/bin/env bash
# Install the Debian packages the emostream test suite needs (idempotent).
#
# Run by `make test` (as root in CI, no stdin). Each needed tool is checked;
# apt-get runs only when something is missing, and then `apt-get update` runs
# once. When not root, missing packages are reported and the script exits 0:
# the tests that need them skip with a reason.
#
# Needed:
#   - GStreamer RTSP server used by tests/support/rtsp_server.py, run with
#     Debian's /usr/bin/python3 (python3-gi + GstRtspServer typelib), and the
#     elements it uses: videotestsrc/videoconvert (base), rtph264pay (good),
#     x264enc (ugly), h264parse (bad), decodebin + avdec_h264 (libav).
#   - prometheus (the `prometheus` and `promtool` binaries).
#   - prometheus-alertmanager (`amtool check-config` on ops/alertmanager/).
#   - redis-server, only when neither redis-server nor valkey-server is on PATH.
#     (tests/security/ need redis-server itself, built with TLS as Debian's is.)
#   - openssl, for the throwaway CA and certificates of the Redis TLS tests.
#
# Output: one line per outcome, prefixed with "system-deps:".
set -u

PY=/usr/bin/python3
missing=()          # apt packages to install
declare -A seen=()

say() { printf 'system-deps: %s\n' "$*"; }

need() {            # need PKG...: mark packages missing (deduplicated)
    local p
    for p in "$@"; do
        if [[ -z "${seen[$p]:-}" ]]; then
            seen[$p]=1
            missing+=("$p")
        fi
    done
}

have_cmd() { command -v "$1" >/dev/null 2>&1; }

# --- checks --------------------------------------------------------------

check_gi() {
    if [[ -x $PY ]] && "$PY" -c 'import gi' >/dev/null 2>&1; then
        say "ok: $PY can import gi"
    else
        say "missing: $PY with gi (python3-gi)"
        need python3 python3-gi
    fi
}

check_rtsp_typelib() {
    if [[ -x $PY ]] && "$PY" - >/dev/null 2>&1 <<'EOF'
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtspServer  # noqa: F401
EOF
    then
        say "ok: GstRtspServer 1.0 importable from $PY"
    else
        say "missing: GstRtspServer 1.0 (gir1.2-gst-rtsp-server-1.0)"
        need gir1.2-gst-rtsp-server-1.0 gir1.2-gstreamer-1.0
    fi
}

# GStreamer element -> Debian package that provides it.
declare -A ELEMENT_PKG=(
    [videotestsrc]=gstreamer1.0-plugins-base
    [videoconvert]=gstreamer1.0-plugins-base
    [videoscale]=gstreamer1.0-plugins-base
    [videorate]=gstreamer1.0-plugins-base
    [decodebin]=gstreamer1.0-plugins-base
    [rtph264pay]=gstreamer1.0-plugins-good
    [qtdemux]=gstreamer1.0-plugins-good
    [x264enc]=gstreamer1.0-plugins-ugly
    [h264parse]=gstreamer1.0-plugins-bad
    [avdec_h264]=gstreamer1.0-libav
)

check_elements() {
    local names out el
    names=$(printf '%s\n' "${!ELEMENT_PKG[@]}" | sort | tr '\n' ' ')
    names=${names% }
    # Prints the names of the elements that cannot be found (all of them when
    # Gst itself cannot be loaded).
    out=$("$PY" - $names 2>/dev/null <<'EOF'
import sys
try:
    import gi
    gi.require_version("Gst", "1.0")
    from gi.repository import Gst
    Gst.init(None)
except Exception:
    print(" ".join(sys.argv[1:]))
    raise SystemExit(0)
print(" ".join(n for n in sys.argv[1:] if Gst.ElementFactory.find(n) is None))
EOF
    ) || out="$names"
    [[ -x $PY ]] || out="$names"
    if [[ -z "${out// /}" ]]; then
        say "ok: GStreamer elements present ($names)"
        return
    fi
    for el in $out; do
        say "missing: GStreamer element $el (${ELEMENT_PKG[$el]})"
        need "${ELEMENT_PKG[$el]}"
    done
}

check_prometheus() {
    local b
    for b in prometheus promtool; do
        if have_cmd "$b"; then
            say "ok: $b on PATH"
        else
            say "missing: $b (prometheus)"
            need prometheus
        fi
    done
}

check_alertmanager() {
    if have_cmd amtool; then
        say "ok: amtool on PATH"
    else
        say "missing: amtool (prometheus-alertmanager)"
        need prometheus-alertmanager
    fi
}

check_redis() {
    if have_cmd redis-server; then
        say "ok: redis-server on PATH"
    elif have_cmd valkey-server; then
        say "ok: valkey-server on PATH (redis-server not needed)"
    else
        say "missing: redis-server"
        need redis-server
    fi
}

check_chromium() {     # the live web page is tested in a real headless browser
    if have_cmd chromium; then
        say "ok: chromium on PATH"
    else
        say "missing: chromium"
        need chromium
    fi
}

check_openssl() {
    if have_cmd openssl; then
        say "ok: openssl on PATH"
    else
        say "missing: openssl"
        need openssl
    fi
}

check_all() {
    check_gi
    check_rtsp_typelib
    check_elements
    check_prometheus
    check_alertmanager
    check_redis
    check_openssl
    check_chromium
}

# --- main ----------------------------------------------------------------

check_all

if [[ ${#missing[@]} -eq 0 ]]; then
    say "all system dependencies present"
    exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
    say "not root, cannot install: ${missing[*]}"
    say "run as root: apt-get install -y --no-install-recommends ${missing[*]}"
    say "tests that need them will be skipped"
    exit 0
fi

if ! have_cmd apt-get; then
    say "apt-get not found, cannot install: ${missing[*]}"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
say "installing: ${missing[*]}"
if ! apt-get update -q </dev/null >/tmp/system-deps-apt.log 2>&1; then
    say "apt-get update failed (see /tmp/system-deps-apt.log); trying install anyway"
fi
if apt-get install -y -q --no-install-recommends "${missing[@]}" \
        </dev/null >>/tmp/system-deps-apt.log 2>&1; then
    say "installed: ${missing[*]}"
else
    say "apt-get install failed: ${missing[*]}; last lines of /tmp/system-deps-apt.log:"
    tail -n 20 /tmp/system-deps-apt.log | sed 's/^/system-deps:   /'
    exit 1
fi

# Re-check so the log says what the tests will actually find.
missing=()
seen=()
check_all >/dev/null
if [[ ${#missing[@]} -eq 0 ]]; then
    say "all system dependencies present"
else
    say "still missing after install: ${missing[*]}"
    exit 1
fi
