#!/usr/bin/env bash
# Runs the timing-bound integration tests again while `stress-ng --cpu $(nproc)` keeps every
# core busy, as on a CI machine that is building something else: they must hold there too.
# The set runs twice, so that a test that passes only sometimes shows. The set: the tests of the
# timing-bound files (clocks, black_box, play, window, hub_fair, replay) that judge times, rates
# or time-outs (the rest of those files, and the other files, check bytes and formats, which a
# busy core does not change; they run once in the tests stage). Each name is checked against
# the test list first, so a renamed test fails here instead of dropping out unnoticed. The load
# is bounded (it stops by itself after LOAD_SECONDS, default 3600) and killed when this script
# ends, also on a failure or Ctrl-C. Arguments replace the set with test-name filters (e.g.
# `hub::`); each filter that matches no test fails, named.
#   scripts/load-test.sh [TEST FILTER...]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

command -v stress-ng >/dev/null || { echo "load-test: stress-ng is missing: run scripts/setup.sh" >&2; exit 1; }
cargo nextest --version >/dev/null 2>&1 || { echo "load-test: cargo-nextest is missing: run scripts/setup.sh" >&2; exit 1; }
timed=(
  clocks::shifted_clocks_both_ways_give_true_glass
  clocks::a_clock_step_mid_run_is_followed_within_a_few_frames
  clocks::an_asymmetric_link_keeps_the_truth_inside_the_bound
  black_box::black_box_sigusr1_writes_the_last_seconds_and_ffprobe_reads_them
  black_box::black_box_on_loss_writes_when_the_viewer_vanishes
  black_box::silent_link_loss_times_out_dumps_the_black_box_and_resumes
  play::play_pauses_steps_seeks_and_changes_speed_in_the_window
  play::play_headless_hands_over_every_frame_and_a_cut_recording_to_its_last_whole_frame
  window::window_measures_display_time_in_a_real_window
  window::window_shows_several_streamers_side_by_side_and_drops_the_ones_that_leave
  window::window_shows_the_pattern_letterboxed_and_waits_between_streamers
  hub_fair::one_address_holding_many_connections_leaves_room_for_another
  hub_fair::refusals_past_the_hard_bound_are_closed_and_counted
  hub_fair::a_flood_of_bad_requests_writes_about_a_line_a_second
  hub_fair::password_guessing_is_slowed_per_address_and_others_are_served_at_once
  replay::replay_of_a_viewer_recording_is_byte_identical_and_keeps_its_timing
)
it='binary_id(integration-tests::it)'
select=(-E "$it & test(/^($(IFS='|'; echo "${timed[*]}"))\$/)")
[ $# -eq 0 ] || select=(-E "$it" "$@")

# Built before the load starts: the point is the tests under load, not a slower build. Always
# the whole workspace, as the tests stage builds it: `-p integration-tests` alone would unify
# other features and rebuild half the tree (97 s in CI); the filter picks the binary.
cargo build --locked --workspace --all-targets
cargo nextest run --locked --workspace --profile load --no-run
listed=$(cargo nextest list --locked --workspace -E "$it" --message-format oneline)
if [ $# -eq 0 ]; then
  for name in "${timed[@]}"; do
    grep -qx "integration-tests::it $name" <<<"$listed" ||
      { echo "load-test: no test named $name (renamed? update scripts/load-test.sh)" >&2; exit 1; }
  done
else
  # Each filter on its own: nextest's --no-tests=fail sees only what they match together.
  # A filter matches the test names that contain it, as nextest's own filters do.
  names=$(sed 's/^integration-tests::it //' <<<"$listed")
  for filter in "$@"; do
    grep -qF -- "$filter" <<<"$names" ||
      { echo "load-test: the filter '$filter' matches no test" >&2; exit 1; }
  done
fi

cores=$(nproc)
stress-ng --cpu "$cores" --timeout "${LOAD_SECONDS:-3600}s" --quiet &
load=$!
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true' EXIT
echo "load-test: stress-ng --cpu $cores running (pid $load); tests: ${select[*]}"
started=$(date +%s)
# The X tests get one retry here (.config/nextest.toml); the ones that needed it are named.
out=$(mktemp)
trap 'kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; rm -f "$out"' EXIT
for round in 1 2; do
  echo "load-test: round $round of 2"
  cargo nextest run --locked --workspace --profile load --no-tests=fail "${select[@]}" 2>&1 | tee -a "$out"
done
flaky=$(grep -E '^ *FLAKY ' "$out" | sed 's/.*integration-tests::it //' | sort -u || true)
echo "load-test: flaky=$(grep -c . <<<"$flaky" || true)${flaky:+ (passed on their retry: $(echo $flaky))}"
kill -0 "$load" 2>/dev/null || { echo "load-test: the load stopped before the tests ended" >&2; exit 1; }
echo "load-test: ok, twice, in $(($(date +%s) - started)) s with all $cores cores busy"
