"""naitzat_rule: experiments/naitzat_table.py's --paper-rule selection (the training
loop of Naitzat et al.'s code: checks at step 1 and every N steps, a net quits at the
first check where its best training accuracy did not rise, and qualifies at the first
check that finds 100%), on hand-made metrics files."""
import os
import sys

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
sys.path.insert(0, os.path.join(root, "tests", "lib"))
sys.path.insert(0, os.path.join(root, "experiments"))
from nervetest import check, finish, tmpdir  # noqa: E402
from naitzat_table import paper_qualifies  # noqa: E402

d = tmpdir("rule")


def metrics(name, acc_of_epoch, last):
    p = os.path.join(d, name + ".csv")
    with open(p, "w") as f:
        f.write("epoch,train_loss,train_acc,test_loss,test_acc\n")
        for e in range(last + 1):
            f.write("%d,0,%r,0,0\n" % (e, acc_of_epoch(e)))
    return p


# rises at every check (1, 10, 20) and reaches 1 at epoch 20 (a check): qualifies
check(paper_qualifies(metrics("rise", lambda e: min(1.0, 0.5 + e / 40), 20), 10) is True, "steady rise to 1 qualifies")
# reaches 1 between checks and the run stopped there: no check saw it
check(paper_qualifies(metrics("between", lambda e: min(1.0, 0.5 + e / 30), 15), 10) is False,
      "100% only between checks does not qualify")
# stalls: the best at epoch 20 equals the best at epoch 10, then reaches 1 at 30
stall = {1: 0.6, 10: 0.9, 20: 0.85, 30: 1.0}
check(paper_qualifies(metrics("stall", lambda e: stall.get(e, 0.5), 30), 10) is False,
      "no rise between two checks: quits before reaching 1")
# a dip between checks does not matter: only the checks count
dip = {1: 0.6, 10: 0.9, 20: 0.95, 30: 1.0}
check(paper_qualifies(metrics("dip", lambda e: dip.get(e, 0.1), 30), 10) is True, "only the checks count")
# never reaches 1 in the run
check(paper_qualifies(metrics("short", lambda e: 0.5 + e / 100, 30), 10) is False, "never at 100%: not qualified")
finish()
