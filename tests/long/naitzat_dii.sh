#!/bin/bash
# naitzat_dii.sh (long test): experiment D-II of Naitzat, Zhitnikov and Lim (JMLR
# 2020) on the linked tori, experiments/naitzat_dii.sh (training, H1 on every point
# of each class at k = 34 and 2 hops, the table), and the paper's result
# (docs/naitzat-di.md, section D-II), by experiments/naitzat_table.py dii --check:
#   - fails unless every analysed net's input reads (9, 9) for both classes;
#   - prints the paper's result with its verdict: at the output, the mean beta1 of
#     class a above 1 for tanh and below 1 for ReLU and leaky ReLU, over the nets at
#     100% training accuracy. Half of it is met today (tanh 3.4; ReLU 1.17 and leaky
#     ReLU 1.00, medians 0 and 1: docs/naitzat-di.md), so it fails the test only with
#     STRICT=1.
# SEEDS (default 10) limits the seeds. Slow (about an hour on 2 cores for 10 seeds):
# runs only under make test-long (NERVE_LONG=1). Exit 0 pass, 77 skip, 1 fail.
set -u
if [ "${NERVE_LONG:-}" != "1" ]; then
    echo "SKIP naitzat_dii: trains 60 networks; runs under make test-long (NERVE_LONG=1)"
    exit 77
fi
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
NERVE=${NERVE:-$root/build/nerve}
out=$(mktemp -d /tmp/nerve-naitzat-dii.XXXXXX)
trap 'rm -rf "$out"' EXIT

if ! SEEDS=${SEEDS:-10} "$root/experiments/naitzat_dii.sh" "$NERVE" "$out/sweep" > "$out/log" 2>&1; then
    tail -n 30 "$out/log"
    echo "FAIL naitzat_dii: experiments/naitzat_dii.sh failed"
    exit 1
fi
met=1
python3 "$root/experiments/naitzat_table.py" dii "$out/sweep" --min-acc 1.0 --check > "$out/table.md" || met=0
cat "$out/table.md"
if grep -q "input class" "$out/table.md"; then
    echo "FAIL naitzat_dii: an analysed net's input does not read the data's topology (9, 9)"
    exit 1
fi
if [ "$met" = 0 ] && [ "${STRICT:-0}" = 1 ]; then
    echo "FAIL naitzat_dii: the paper's beta1 result is not met (STRICT=1)"
    exit 1
fi
echo "the paper's beta1 result: $([ "$met" = 1 ] && echo met || echo "not met (docs/naitzat-di.md)")"
echo "PASS naitzat_dii"
exit 0
