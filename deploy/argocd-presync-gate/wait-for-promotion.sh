#!/bin/sh
# image-promoter's Argo CD PreSync gate: holds a sync until the commit being synced has
# `image-promotion/<environment>` = success on GitHub (a commit status, or a check run of that name
# when image-promoter runs as a GitHub App), fails the sync on failure/error, and gives up after
# GATE_TIMEOUT_SECONDS. POSIX sh + curl + awk only (runs in curlimages/curl). Never prints the token.
#
# Environment:
#   GITHUB_REPOSITORY       owner/name of the overlays repository (required)
#   PROMOTION_ENVIRONMENT   the environment name of image-promoter.yaml (required)
#   REVISION                the commit Argo CD syncs: ARGOCD_APP_REVISION through the Application's
#                           kustomize.commonAnnotations (see docs/deploy.md) (required, 40 hex)
#   GITHUB_TOKEN            read-only token (optional for public repositories)
#   GITHUB_API_URL          default https://api.github.com
#   GATE_TIMEOUT_SECONDS    default 600; GATE_INTERVAL_SECONDS default 10
set -u

api="${GITHUB_API_URL:-https://api.github.com}"
api="${api%/}"
repository="${GITHUB_REPOSITORY:-}"
environment="${PROMOTION_ENVIRONMENT:-}"
revision="${REVISION:-}"
timeout="${GATE_TIMEOUT_SECONDS:-600}"
interval="${GATE_INTERVAL_SECONDS:-10}"
context="image-promotion/${environment}"

say() { printf '%s\n' "image-promotion gate: $*" >&2; }

case "$repository" in */*) ;; *) say "GITHUB_REPOSITORY must be owner/name, not '${repository}'"; exit 2 ;; esac
[ -n "$environment" ] || { say "PROMOTION_ENVIRONMENT is not set"; exit 2; }
case "$revision" in
  *[!0-9a-f]*|'') revision_ok=no ;;
  *) [ "${#revision}" -eq 40 ] && revision_ok=yes || revision_ok=no ;;
esac
if [ "$revision_ok" != yes ]; then
  say "the synced revision is unknown ('${revision}'): set kustomize.commonAnnotationsEnvsubst: true and commonAnnotations image-promoter.dev/revision: \${ARGOCD_APP_REVISION} in the Argo CD Application (docs/deploy.md)"
  exit 2
fi
case "$timeout$interval" in *[!0-9]*) say "GATE_TIMEOUT_SECONDS and GATE_INTERVAL_SECONDS must be whole seconds"; exit 2 ;; esac

# One GET; the body on stdout, fails (1) on a non-2xx answer or no answer.
get() {
  if [ -n "${GITHUB_TOKEN:-}" ]; then
    # The header comes from stdin (-H @-), so the token never shows in the process list.
    printf 'Authorization: Bearer %s\n' "$GITHUB_TOKEN" |
      curl -fsS --max-time 20 -H @- -H 'Accept: application/vnd.github+json' \
        -H 'X-GitHub-Api-Version: 2022-11-28' "$1"
  else
    curl -fsS --max-time 20 -H 'Accept: application/vnd.github+json' \
      -H 'X-GitHub-Api-Version: 2022-11-28' "$1"
  fi
}

# One line per object one level inside the answer (each status of the combined status, each check
# run), holding only that object's own fields: nested objects (a status's creator, a run's output and
# app) are left out, so a field is found wherever GitHub puts it in the object, and a brace or quote
# inside a string cannot split or end a record.
records() {
  awk 'BEGIN { RS = "\001" } {
    depth = 0; instr = 0; esc = 0; rec = ""
    for (i = 1; i <= length($0); i++) {
      c = substr($0, i, 1)
      if (instr) {
        if (esc) esc = 0; else if (c == "\\") esc = 1; else if (c == "\"") instr = 0
        if (depth == 2) rec = rec c
      }
      else if (c == "\"") { instr = 1; if (depth == 2) rec = rec c }
      else if (c == "{") { depth++; if (depth == 2) rec = "" }
      else if (c == "}") { if (depth == 2) printf "%s\n", rec; depth-- }
      else if (depth == 2 && c != "\n" && c != "\r") rec = rec c
    }
  }'
}

field() { sed -n "s/.*\"$1\":\"\\([a-z_]*\\)\".*/\\1/p" | head -n 1; }

# "success|failure|pending <description>" (pending: not there yet), from the commit's combined
# status (GET /repos/{owner}/{repo}/commits/{ref}/status), else its latest check run of that name
# (GET /repos/{owner}/{repo}/commits/{ref}/check-runs?check_name=...).
state_of() {
  combined=$(get "${api}/repos/${repository}/commits/${revision}/status?per_page=100") || return 1
  line=$(printf '%s' "$combined" | records | grep -F "\"context\":\"${context}\"" | head -n 1)
  if [ -n "$line" ]; then
    state=$(printf '%s\n' "$line" | field state)
    description=$(printf '%s\n' "$line" | sed -n 's/.*"description":"\([^"]*\)".*/\1/p')
    case "$state" in
      success) echo "success $description" ;; failure|error) echo "failure $description" ;; *) echo "pending $description" ;;
    esac
    return 0
  fi
  runs=$(get "${api}/repos/${repository}/commits/${revision}/check-runs?check_name=$(printf '%s' "$context" | sed 's#/#%2F#g')&filter=latest") || return 1
  run=$(printf '%s' "$runs" | records | grep -F "\"name\":\"${context}\"" | head -n 1)
  if [ -z "$run" ]; then echo "pending no status yet"; return 0; fi
  status=$(printf '%s\n' "$run" | field status)
  conclusion=$(printf '%s\n' "$run" | field conclusion)
  description="check run ${status}${conclusion:+ (${conclusion})}"
  if [ "$status" != completed ]; then echo "pending $description"
  elif [ "$conclusion" = success ]; then echo "success $description"
  else echo "failure $description"
  fi
}

short=$(printf '%s' "$revision" | cut -c1-12)
say "waiting for ${context} on ${repository}@${short} (up to ${timeout} s)"
start=$(date +%s)
last=''
while :; do
  if result=$(state_of); then
    description="${result#* }"
    case "$result" in
      success*) say "${context} is success at ${short} (${description}): images are present, sync proceeds"; exit 0 ;;
      failure*) say "${context} failed at ${short}: ${description:-see the commit on GitHub}; sync stopped"; exit 1 ;;
    esac
    # Say what it waits for once per change, not every poll.
    if [ "$result" != "$last" ]; then say "still waiting: ${description}"; last="$result"; fi
  else
    say "GitHub did not answer for ${short}; retrying"
  fi
  now=$(date +%s)
  if [ $((now - start + interval)) -gt "$timeout" ]; then
    say "gave up after ${timeout} s: ${context} is still not success at ${short}; sync stopped"
    exit 1
  fi
  sleep "$interval"
done
