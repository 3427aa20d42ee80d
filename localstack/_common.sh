# Shared by localstack/start, localstack/stop and the tests. Sourced, not executed.
# shellcheck shell=bash
# shellcheck disable=SC2034  # the ls_* variables are used by the scripts that source this file
ls_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ls_root=$(cd "$ls_here/.." && pwd)
LOCALSTACK_PORT=${LOCALSTACK_PORT:-4566}
ls_state=${LOCALSTACK_STATE_DIR:-$ls_root/.localstack}
ls_venv=$ls_root/.venv/localstack
ls_pidfile=$ls_state/localstack.pid
ls_log=$ls_state/logs/localstack.log
ls_endpoint=http://127.0.0.1:$LOCALSTACK_PORT

# The services the project needs (dynamodbstreams is optional, served by moto too).
LOCALSTACK_SERVICES=${LOCALSTACK_SERVICES:-cloudformation,s3,sns,sqs,lambda,dynamodb,dynamodbstreams,apigateway,logs,events,scheduler,iam,sts,ses,cloudwatch,kms,ssm}

ls_pid_alive() {  # pid file names a live LocalStack of ours
  local pid
  [ -f "$ls_pidfile" ] || return 1
  pid=$(cat "$ls_pidfile" 2>/dev/null) || return 1
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q "localstack.runtime.main"
}

ls_session_pids() {  # every process in LocalStack's session (it runs under setsid: sid == its pid)
  local sid=$1
  ps -eo pid=,sid=,stat= | awk -v sid="$sid" '$2 == sid && $3 !~ /^Z/ { print $1 }'
}
