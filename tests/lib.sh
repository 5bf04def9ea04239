# Shared by the end-to-end test scripts: counters, and the summary that sets the exit status.
# Source it after setting `work` (a temporary folder the script removes).
passed=0
failed=0
ok() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); echo "FAIL: $*" >&2; }

# no_crash OUTPUT: a crash or a C++/LibTorch stack trace must never reach the user.
no_crash() {
  [[ "$1" != *"frame #"* && "$1" != *"Exception raised from"* && "$1" != *"terminate called"* ]]
}

summary() {
  echo "$passed passed, $failed failed"
  [ "$failed" -eq 0 ]
}

# expect_case WHAT CODE NEEDLE -- command...: the exit code, a substring of
# stdout+stderr, and no crash output; WHAT names the case in failures.
expect_case() {
  local what=$1 code=$2 needle=$3; shift 4
  local output status
  output=$("$@" 2>&1); status=$?
  if [ "$status" -ne "$code" ]; then fail "$what: exit $status, expected $code"$'\n'"$output"; return; fi
  if [[ "$output" != *"$needle"* ]]; then fail "$what: output lacks '$needle'"$'\n'"$output"; return; fi
  no_crash "$output" || { fail "$what: crash or stack trace shown"; return; }
  ok
}

# expect CODE NEEDLE -- command...: the same, named by the command.
expect() { expect_case "$*" "$@"; }
