# Sourced by scripts/test.sh and scripts/check.sh: `stage NAME` begins a
# stage, printing "== NAME ==", and prints how long the one before took, so
# a log shows where the time goes; at exit, the total.
stage_start=$SECONDS
stage() {
  [ -z "${stage_name:-}" ] || echo "-- ${stage_name}: $((SECONDS - stage_start)) s"
  stage_name="$1"
  stage_start=$SECONDS
  [ -z "$1" ] || echo "== $1 =="
}
trap 'stage ""; echo "-- all stages: ${SECONDS} s"' EXIT
