#!/usr/bin/env bash
# cross-check.sh - proof that the heaptrace C core (firmware/lib/heaptrace)
# is embedded-ready.
#
# For two 32-bit bare-metal targets built from Debian's packages
#   xtensa-lx106  gcc-xtensa-lx106 + picolibc-xtensa-lx106-elf
#   rv32imc       gcc-riscv64-unknown-elf -march=rv32imc -mabi=ilp32
#                 + picolibc-riscv64-unknown-elf
# it compiles every lib/heaptrace/src/*.c with
#   -std=c99 -Wall -Wextra -Werror -fstack-usage -Os
# and fails when
#   - a file does not compile cleanly (warnings are errors),
#   - a function needs more than 256 B of stack, or its usage is dynamic
#     (alloca/VLA: no static bound we could check),
#   - an object references an allocator or a printf-family symbol.
# Then it prints a Markdown table of .text/.data/.bss per target (the sum
# over all core objects) for firmware/README.md.
#
# Before the real check it runs a self-test: tiny bad sources (big frame,
# VLA, malloc, snprintf, printf->puts) must each be caught, and a good one
# must pass, so the checks cannot silently pass on everything.
#
# Usage: firmware/ci/cross-check.sh [--self-test]
#   --self-test   only run the self-test (after installing the toolchains)
# Needs Debian 12; installs the four packages with apt-get when missing
# (as root, e.g. in CI). Build output: firmware/test/build/cross/.
set -euo pipefail

FW_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly FW_DIR
readonly SRC_DIR="$FW_DIR/lib/heaptrace/src"
readonly BUILD_DIR="$FW_DIR/test/build/cross"
readonly STACK_LIMIT=256
readonly CFLAGS=(-std=c99 -Wall -Wextra -Werror -fstack-usage -Os)
readonly PACKAGES=(gcc-xtensa-lx106 picolibc-xtensa-lx106-elf
                   gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf)

# Exact names the core must never reference. A leading "_" run and a
# trailing "_r" are stripped before comparing, so newlib/picolibc's
# reentrant and internal spellings (_malloc_r, __strdup, ...) count too.
readonly ALLOC_SYMS="malloc calloc realloc reallocarray free strdup strndup aligned_alloc posix_memalign memalign valloc pvalloc sbrk"
readonly PRINT_SYMS="puts putchar fputs"
# Plus any symbol containing "printf": printf ... vsnprintf and the variants
# a toolchain may emit instead (__d_vfprintf, __sprintf_chk, iprintf, ...).

# Targets: name | tool prefix | extra compiler flags | picolibc package
readonly TARGETS=(
  "xtensa-lx106|xtensa-lx106-elf-||picolibc-xtensa-lx106-elf"
  "rv32imc|riscv64-unknown-elf-|-march=rv32imc -mabi=ilp32|picolibc-riscv64-unknown-elf"
)

# one_line <text>: joins a multi-line report with "; " for a one-line reason.
one_line() { printf '%s' "$1" | paste -sd ';' | sed 's/;/; /g'; }

die() { echo "cross-check: FAIL: $*" >&2; exit 1; }
log() { echo "cross-check: $*"; }

# ---- toolchains ----------------------------------------------------------

is_installed() {
  [ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" = "install ok installed" ]
}

# Install only what is missing, so a developer machine that already has the
# toolchains (or is not root) does not need apt at all.
install_toolchains() {
  local missing=() p
  for p in "${PACKAGES[@]}"; do
    is_installed "$p" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || die "missing packages (${missing[*]}); run as root or: sudo apt-get install ${missing[*]}"
  log "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed"
}

# The picolibc specs file adds picolibc's -isystem include path. Debian's
# riscv gcc finds it by name, but the xtensa one does not (it is installed
# in /usr/lib/xtensa-lx106-elf/, outside gcc's search path), so take the
# path from the package's file list.
picolibc_specs() {
  local pkg=$1 specs
  specs=$(dpkg -L "$pkg" | grep '/picolibc\.specs$' | head -n 1) || true
  if [ -z "$specs" ] || [ ! -f "$specs" ]; then
    die "$pkg ships no picolibc.specs"
  fi
  echo "$specs"
}

# ---- the three checks (shared by the real run and the self-test) --------

# compile <prefix> <specs> <extra flags> <out dir> <sources...>
# Objects and .su files land in <out dir> (gcc writes x.su next to x.o).
compile() {
  local prefix=$1 specs=$2 extra=$3 out=$4 src obj
  shift 4
  mkdir -p "$out"
  for src in "$@"; do
    obj="$out/$(basename "${src%.c}").o"
    # shellcheck disable=SC2086  # $extra is a list of flags
    "${prefix}gcc" --specs="$specs" $extra "${CFLAGS[@]}" -c "$src" -o "$obj" \
      || { echo "compile: $src"; return 1; }
    [ -s "${obj%.o}.su" ] || { echo "compile: no stack-usage file for $src"; return 1; }
  done
}

# check_stack <.su files...>: one line per offending function.
# .su line: "<file>:<line>:<col>:<function>\t<bytes>\t<static|dynamic[,bounded]>"
check_stack() {
  awk -F'\t' -v limit="$STACK_LIMIT" '
    { n = split($1, loc, ":"); fn = loc[n]; at = substr($1, 1, length($1) - length(fn) - 1) }
    $3 ~ /dynamic/ { printf "stack: %s uses dynamic stack (%s B, %s) at %s\n", fn, $2, $3, at; bad = 1; next }
    $2 + 0 > limit { printf "stack: %s needs %s B > %s B at %s\n", fn, $2, limit, at; bad = 1 }
    END { exit bad }' "$@"
}

# stack_summary <.su files...>: "<count> functions, max <bytes> B (<function>)"
stack_summary() {
  awk -F'\t' '
    { n = split($1, loc, ":"); c++; if ($2 + 0 > max || c == 1) { max = $2 + 0; fn = loc[n] } }
    END { printf "%d functions, max %d B (%s)\n", c, max, fn }' "$@"
}

# is_forbidden <symbol>: true for an allocator or printf-family name.
is_forbidden() {
  local sym=$1 base=$1 name
  case "$sym" in *printf*) return 0 ;; esac
  base=${base#"${base%%[!_]*}"}  # strip leading underscores
  base=${base%_r}                # reentrant variant
  for name in $ALLOC_SYMS $PRINT_SYMS; do
    [ "$base" = "$name" ] && return 0
  done
  return 1
}

# check_symbols <nm> <objects...>: one line per forbidden reference.
check_symbols() {
  local nm=$1 obj sym syms bad=0
  shift
  for obj in "$@"; do
    syms=$("$nm" -u "$obj" | awk '{ print $NF }') || { echo "symbols: $nm failed on $obj"; return 1; }
    for sym in $syms; do
      if is_forbidden "$sym"; then
        echo "symbols: $(basename "$obj") references $sym"
        bad=1
      fi
    done
  done
  return $bad
}

# other_undefined <nm> <objects...>: what the core still needs from
# libgcc/libc (soft-float, 64-bit division, memcpy) - printed for the record.
other_undefined() {
  local nm=$1
  shift
  "$nm" -u "$@" | awk 'NF > 1 && $NF !~ /^ht_/ { print $NF }' | sort -u | tr '\n' ' '
}

# sizes <size tool> <objects...>: "text data bss" summed over the objects.
sizes() {
  local size_tool=$1
  shift
  "$size_tool" -t "$@" | awk 'END { print $1, $2, $3 }'
}

# ---- self-test: the checks must catch known-bad code ---------------------

write_selftest_sources() {
  local dir=$1
  mkdir -p "$dir"
  cat >"$dir/st_good.c" <<'EOF'
void st_sink(char *p);
void st_small_frame(void) { char buf[64]; st_sink(buf); }
EOF
  cat >"$dir/st_big_frame.c" <<'EOF'
void st_sink(char *p);
void st_big_frame(void) { char buf[512]; st_sink(buf); }
EOF
  cat >"$dir/st_vla.c" <<'EOF'
#include <stddef.h>
void st_sink(char *p);
void st_vla(size_t n) { char buf[n]; st_sink(buf); }
EOF
  cat >"$dir/st_malloc.c" <<'EOF'
#include <stdlib.h>
void *st_grab(size_t n) { return malloc(n); }
EOF
  cat >"$dir/st_snprintf.c" <<'EOF'
#include <stdio.h>
int st_fmt(char *b, size_t n, int v) { return snprintf(b, n, "%d", v); }
EOF
  # gcc rewrites this printf into puts(): the check must see through that.
  cat >"$dir/st_puts.c" <<'EOF'
#include <stdio.h>
void st_say(const char *s) { printf("%s\n", s); }
EOF
}

# expect_fail <what> <needle> <command...>: the command must fail and its
# output must name <needle>.
expect_fail() {
  local what=$1 needle=$2 out
  shift 2
  if out=$("$@"); then
    die "self-test: $what was not caught"
  fi
  case "$out" in
    *"$needle"*) ;;
    *) die "self-test: $what failed without naming $needle: $out" ;;
  esac
}

selftest_target() {
  local name=$1 prefix=$2 extra=$3 specs=$4
  local dir="$BUILD_DIR/selftest/$name"
  rm -rf "$dir"
  write_selftest_sources "$dir/src"
  compile "$prefix" "$specs" "$extra" "$dir" "$dir"/src/*.c >/dev/null \
    || die "self-test: [$name] the test sources do not compile"

  check_stack "$dir/st_good.su" >/dev/null || die "self-test: [$name] a 64 B frame was rejected"
  check_symbols "${prefix}nm" "$dir/st_good.o" >/dev/null || die "self-test: [$name] a clean object was rejected"
  expect_fail "[$name] 512 B frame" st_big_frame check_stack "$dir/st_big_frame.su"
  expect_fail "[$name] VLA" dynamic check_stack "$dir/st_vla.su"
  expect_fail "[$name] malloc" malloc check_symbols "${prefix}nm" "$dir/st_malloc.o"
  expect_fail "[$name] snprintf" printf check_symbols "${prefix}nm" "$dir/st_snprintf.o"
  expect_fail "[$name] printf->puts" puts check_symbols "${prefix}nm" "$dir/st_puts.o"
  log "[$name] self-test ok (64 B frame passes; 512 B frame, VLA, malloc, snprintf, puts caught)"
}

# ---- the real check ------------------------------------------------------

# check_target <name> <prefix> <extra> <specs>: prints "| name | text | data | bss |"
# on stdout as its last line; progress goes to stderr.
check_target() {
  local name=$1 prefix=$2 extra=$3 specs=$4
  local out="$BUILD_DIR/$name" report
  local sources=("$SRC_DIR"/*.c)
  [ -e "${sources[0]}" ] || die "no sources in $SRC_DIR"
  rm -rf "$out"

  report=$(compile "$prefix" "$specs" "$extra" "$out" "${sources[@]}") \
    || die "[$name] ${report:-compile failed} (see the compiler output above)"
  local objs=("$out"/*.o) sus=("$out"/*.su)

  report=$(check_stack "${sus[@]}") || die "[$name] $(one_line "$report")"
  report=$(check_symbols "${prefix}nm" "${objs[@]}") || die "[$name] $(one_line "$report")"

  log "[$name] ${#objs[@]} objects; stack: $(stack_summary "${sus[@]}")" >&2
  log "[$name] no allocator/printf references; other undefined: $(other_undefined "${prefix}nm" "${objs[@]}")" >&2
  local text data bss
  read -r text data bss <<<"$(sizes "${prefix}size" "${objs[@]}")"
  [[ "$text $data $bss" =~ ^[0-9]+\ [0-9]+\ [0-9]+$ ]] \
    || die "[$name] could not read sizes from ${prefix}size"
  echo "| $name | $text | $data | $bss |"
}

main() {
  local selftest_only=0
  case "${1:-}" in
    "") ;;
    --self-test) selftest_only=1 ;;
    *) die "unknown argument '$1' (usage: $0 [--self-test])" ;;
  esac

  install_toolchains
  local t name prefix extra pkg specs row rows=()
  for t in "${TARGETS[@]}"; do
    IFS='|' read -r name prefix extra pkg <<<"$t"
    command -v "${prefix}gcc" >/dev/null || die "${prefix}gcc not found after install"
    specs=$(picolibc_specs "$pkg") || exit 1
    selftest_target "$name" "$prefix" "$extra" "$specs"
    [ $selftest_only -eq 1 ] && continue
    row=$(check_target "$name" "$prefix" "$extra" "$specs") || exit 1
    rows+=("$row")
  done
  [ $selftest_only -eq 1 ] && { log "self-test passed"; return 0; }

  echo
  echo "Bytes, summed over the core objects of each target (size -t; Berkeley format, so .text includes .rodata):"
  echo
  echo "| target | .text | .data | .bss |"
  echo "|---|---:|---:|---:|"
  printf '%s\n' "${rows[@]}"
  echo
  log "compilers: $(xtensa-lx106-elf-gcc -dumpversion) (xtensa-lx106-elf), $(riscv64-unknown-elf-gcc -dumpversion) (riscv64-unknown-elf); picolibc $(dpkg-query -W -f='${Version}' picolibc-riscv64-unknown-elf); $(date -u +%Y-%m-%d)"
  log "OK: every function <= $STACK_LIMIT B static stack, no allocator/printf references"
}

main "$@"
