#!/bin/sh
# The example's tests: the inventory's `tests:` runs ./test.sh in the tag's source before
# any build droplet exists.
# A file TESTS containing "fail" makes them fail (a tag whose tests fail: nothing is built);
# "hang", never end (the tests' timeout ends them).
set -eu
case "$(cat TESTS 2>/dev/null || true)" in
  fail*) echo "test_greeting: FAIL: expected 'hello @VERSION@', got 'goodbye'"; exit 1 ;;
  hang*) echo "test_forever: started"; exec sleep 86399 ;;
esac
sh -n build.sh && echo "test_build_script_parses: ok"
grep -q '@VERSION@' hello && echo "test_version_placeholder: ok"
echo "2 tests passed"
